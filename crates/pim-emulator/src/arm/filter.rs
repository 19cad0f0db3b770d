//! ARM's `$filter` on PIM lists: the functions `atScope()`, `asTarget()`,
//! `asRequestor()`, `asApprover()`, `assignedTo('id')`, and
//! `principalId` / `roleDefinitionId` / `status` / `requestorId` /
//! `resourceType` `eq '…'`, joined with `and` (`or` between
//! `resourceType` clauses only).

use super::cloud_error;
use crate::error::ApiResult;

#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Filter {
    pub at_scope: bool,
    pub as_target: bool,
    pub as_requestor: bool,
    pub as_approver: bool,
    pub assigned_to: Option<String>,
    pub principal: Option<String>,
    /// Lower-case role GUID.
    pub role: Option<String>,
    pub status: Option<String>,
    pub requestor: Option<String>,
    /// Lower-case `resourceType` values (eligibleChildResources).
    pub resource_types: Vec<String>,
}

/// UNVERIFIED: the code ARM gives a filter it cannot read (`InvalidFilter`
/// and `BadRequest` are both seen on other ARM APIs).
fn invalid(text: &str) -> crate::error::ApiError {
    cloud_error(
        400,
        "InvalidFilter",
        format!("The filter '{text}' is not supported."),
    )
}

fn split_ci<'a>(text: &'a str, sep: &str) -> Vec<&'a str> {
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let bytes = lower.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            quoted = !quoted;
        } else if !quoted && lower[i..].starts_with(sep) {
            out.push(text[start..i].trim());
            i += sep.len();
            start = i;
            continue;
        }
        i += 1;
    }
    out.push(text[start..].trim());
    out
}

fn unparen(s: &str) -> &str {
    let mut s = s.trim();
    while s.starts_with('(') && s.ends_with(')') {
        s = s[1..s.len() - 1].trim();
    }
    s
}

fn quoted(v: &str) -> Option<String> {
    let v = v.trim();
    v.strip_prefix('\'')
        .and_then(|x| x.strip_suffix('\''))
        .map(|x| x.replace("''", "'"))
        // GUIDs are also seen unquoted (`principalId eq {id}` in the spec text).
        .or_else(|| (!v.is_empty() && !v.contains(' ')).then(|| v.to_string()))
}

impl Filter {
    pub fn parse(text: Option<&str>) -> ApiResult<Filter> {
        let mut f = Filter::default();
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(f);
        };
        for clause in split_ci(unparen(text), " and ") {
            let clause = unparen(clause);
            let alternatives = split_ci(clause, " or ");
            if alternatives.len() > 1 {
                for alt in alternatives {
                    if !f.parse_clause(unparen(alt))? {
                        return Err(invalid(text));
                    }
                }
                continue;
            }
            f.parse_clause(clause)?;
        }
        Ok(f)
    }

    /// Read one clause; `true` when it was a `resourceType` one (the only
    /// kind `or` may join).
    fn parse_clause(&mut self, c: &str) -> ApiResult<bool> {
        let lower = c.to_ascii_lowercase().replace(' ', "");
        match lower.as_str() {
            "atscope()" => self.at_scope = true,
            "astarget()" => self.as_target = true,
            "asrequestor()" => self.as_requestor = true,
            "asapprover()" => self.as_approver = true,
            _ if lower.starts_with("assignedto(") && lower.ends_with(')') => {
                let inner = &c.trim()["assignedTo(".len()..c.trim().len() - 1];
                self.assigned_to = Some(
                    quoted(inner)
                        .ok_or_else(|| invalid(c))?
                        .to_ascii_lowercase(),
                );
            }
            _ => {
                let parts: Vec<&str> = split_ci(c, " eq ");
                let [prop, value] = parts.as_slice() else {
                    return Err(invalid(c));
                };
                let value = quoted(value).ok_or_else(|| invalid(c))?;
                match prop.to_ascii_lowercase().as_str() {
                    "principalid" => self.principal = Some(value.to_ascii_lowercase()),
                    "roledefinitionid" => self.role = Some(crate::store::arm::role_guid(&value)),
                    "status" => self.status = Some(value),
                    "requestorid" => self.requestor = Some(value.to_ascii_lowercase()),
                    "resourcetype" => {
                        self.resource_types.push(value.to_ascii_lowercase());
                        return Ok(true);
                    }
                    _ => return Err(invalid(c)),
                }
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_filters() {
        let f = Filter::parse(Some(
            "assignedTo('A3BB8764-CB92-4276-9D2A-CA1E895E55EA') and atScope()",
        ))
        .unwrap();
        assert!(f.at_scope);
        assert_eq!(
            f.assigned_to.as_deref(),
            Some("a3bb8764-cb92-4276-9d2a-ca1e895e55ea")
        );
        let f = Filter::parse(Some(
            "(principalId eq 'P' and roleDefinitionId eq '/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/B24988AC-6180-42a0-ab88-20f7382dd24c')",
        ))
        .unwrap();
        assert_eq!(f.principal.as_deref(), Some("p"));
        assert_eq!(
            f.role.as_deref(),
            Some("b24988ac-6180-42a0-ab88-20f7382dd24c")
        );
        let f = Filter::parse(Some(
            "resourceType eq 'subscription' or resourceType eq 'resourcegroup'",
        ))
        .unwrap();
        assert_eq!(f.resource_types, ["subscription", "resourcegroup"]);
        assert!(Filter::parse(Some("asTarget()")).unwrap().as_target);
        assert!(Filter::parse(Some("displayName eq 'x'")).is_err());
        assert!(Filter::parse(Some("atScope() or asTarget()")).is_err());
        assert_eq!(Filter::parse(None).unwrap(), Filter::default());
    }
}
