//! The configuration language's vocabulary: every block type and attribute,
//! defined once. The loader checks names against it (and suggests the
//! closest), and a test holds `schemas/config.schema.json` to it.

/// How many labels a block takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    None,
    One(&'static str),
}

#[derive(Debug)]
pub struct BlockSchema {
    pub name: &'static str,
    pub labels: Labels,
    /// May the block appear more than once in its parent?
    pub repeatable: bool,
    pub attributes: &'static [&'static str],
    pub blocks: &'static [&'static BlockSchema],
    /// `true` when the block's attributes are free-form names (`locals`).
    pub open: bool,
}

impl BlockSchema {
    pub fn block(&self, name: &str) -> Option<&'static BlockSchema> {
        self.blocks.iter().copied().find(|b| b.name == name)
    }

    pub fn has_attribute(&self, name: &str) -> bool {
        self.open || self.attributes.contains(&name)
    }
}

const fn block(name: &'static str, attributes: &'static [&'static str]) -> BlockSchema {
    BlockSchema {
        name,
        labels: Labels::None,
        repeatable: false,
        attributes,
        blocks: &[],
        open: false,
    }
}

pub static TENANT: BlockSchema = block(
    "tenant",
    &[
        "id",
        "emulator",
        "graph_url",
        "authority_host",
        "ca_cert",
        "renew_within",
        "tier0_roles",
        "protected",
    ],
);

pub static STATE: BlockSchema = block(
    "state",
    &[
        "backend",
        "path",
        "account",
        "container",
        "blob",
        "endpoint",
    ],
);

pub static VALIDATION: BlockSchema = BlockSchema {
    repeatable: true,
    ..block("validation", &["condition", "error_message"])
};

pub static VARIABLE: BlockSchema = BlockSchema {
    labels: Labels::One("variable name"),
    repeatable: true,
    blocks: &[&VALIDATION],
    ..block(
        "variable",
        &["default", "description", "type", "sensitive", "nullable"],
    )
};

pub static LOCALS: BlockSchema = BlockSchema {
    repeatable: true,
    open: true,
    ..block("locals", &[])
};

const GRANT_ATTRIBUTES: &[&str] = &[
    "for_each",
    "principal",
    "role",
    "scope",
    "group",
    "access",
    "azure_role",
    "condition",
    "duration",
    "expires",
    "permanent",
    "start",
    "justification",
    "ticket",
];

pub static ELIGIBILITY: BlockSchema = BlockSchema {
    labels: Labels::One("name"),
    repeatable: true,
    ..block("eligibility", GRANT_ATTRIBUTES)
};

pub static ASSIGNMENT: BlockSchema = BlockSchema {
    labels: Labels::One("name"),
    repeatable: true,
    ..block("assignment", GRANT_ATTRIBUTES)
};

pub static APPROVAL: BlockSchema = block(
    "approval",
    &["approvers", "required", "require_for_extension"],
);

pub static ACTIVATION: BlockSchema = BlockSchema {
    blocks: &[&APPROVAL],
    ..block(
        "activation",
        &[
            "max_duration",
            "require_mfa",
            "require_justification",
            "require_ticket",
            "authentication_context",
        ],
    )
};

pub static POLICY_ELIGIBILITY: BlockSchema =
    block("eligibility", &["allow_permanent", "max_duration"]);

pub static ACTIVE_ASSIGNMENT: BlockSchema = block(
    "active_assignment",
    &[
        "allow_permanent",
        "max_duration",
        "require_mfa",
        "require_justification",
    ],
);

pub static NOTIFICATION: BlockSchema = BlockSchema {
    labels: Labels::One("event"),
    repeatable: true,
    ..block(
        "notification",
        &["recipients", "default_recipients", "level"],
    )
};

pub static POLICY: BlockSchema = BlockSchema {
    labels: Labels::One("role name, group:<name> or azure:<role>"),
    repeatable: true,
    blocks: &[
        &ACTIVATION,
        &POLICY_ELIGIBILITY,
        &ACTIVE_ASSIGNMENT,
        &NOTIFICATION,
    ],
    ..block("policy", &["access", "scope"])
};

pub static ROLE: BlockSchema = BlockSchema {
    labels: Labels::One("role name, group:<name> or azure:<role>"),
    repeatable: true,
    ..block(
        "role",
        &[
            "access",
            "scope",
            "exclusive",
            "protected",
            "custom",
            "allow_empty",
            "known_holders",
        ],
    )
};

/// The top level of a configuration directory.
pub static ROOT: BlockSchema = BlockSchema {
    blocks: &[
        &TENANT,
        &STATE,
        &VARIABLE,
        &LOCALS,
        &ELIGIBILITY,
        &ASSIGNMENT,
        &POLICY,
        &ROLE,
    ],
    ..block("", &[])
};

/// Names of the functions expressions may call.
pub const FUNCTIONS: &[&str] = &[
    "toset",
    "concat",
    "merge",
    "lower",
    "upper",
    "format",
    "join",
    "length",
    "contains",
    "startswith",
    "endswith",
    "alltrue",
    "anytrue",
    "regex",
    "can",
];
