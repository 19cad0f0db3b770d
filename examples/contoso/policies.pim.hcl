# Role settings (PIM policies). A policy block overrides only what it names.

policy "Global Administrator" {
  activation {
    max_duration          = "PT4H"
    require_mfa           = true
    require_justification = true
    require_ticket        = false
    approval {
      approvers = var.approvers
      required  = true
    }
  }
  eligibility {
    allow_permanent = false
    max_duration    = "P365D"
  }
  # The break-glass account holds Global Administrator permanently, so this
  # role (and only this one) allows permanent active assignments.
  active_assignment {
    allow_permanent       = true
    max_duration          = "P180D"
    require_mfa           = false
    require_justification = true
  }
  notification "activation" {
    recipients         = [var.security_alerts]
    default_recipients = true
    level              = "all"
  }
}

policy "Privileged Role Administrator" {
  activation {
    max_duration          = "PT2H"
    require_mfa           = true
    require_justification = true
    require_ticket        = true
    approval {
      approvers = var.approvers
    }
  }
  eligibility {
    allow_permanent = false
    max_duration    = "P365D"
  }
  active_assignment {
    allow_permanent       = false
    max_duration          = "P30D"
    require_justification = true
  }
  notification "activation" {
    recipients         = [var.security_alerts]
    default_recipients = true
    level              = "all"
  }
}

policy "Security Administrator" {
  activation {
    max_duration          = "PT4H"
    require_mfa           = true
    require_justification = true
    approval {
      approvers = var.approvers
    }
  }
  eligibility {
    allow_permanent = false
    max_duration    = "P365D"
  }
  active_assignment {
    allow_permanent = false
    max_duration    = "P90D"
  }
  notification "assignment_assigned" {
    recipients         = [var.security_alerts]
    default_recipients = true
    level              = "all"
  }
  notification "activation" {
    recipients         = [var.security_alerts]
    default_recipients = true
    level              = "all"
  }
}

policy "Helpdesk Administrator" {
  activation {
    max_duration          = "PT8H"
    require_mfa           = true
    require_justification = true
    require_ticket        = true
  }
  eligibility {
    allow_permanent = false
    max_duration    = "P180D"
  }
}

# The member policy of the tier-0 group: activating membership grants
# Global Administrator, so it asks what the role's own policy asks.
policy "group:Tier0 Admins" {
  activation {
    max_duration          = "PT2H"
    require_mfa           = true
    require_justification = true
    approval {
      approvers = var.approvers
      required  = true
    }
  }
  eligibility {
    allow_permanent = false
    max_duration    = "P365D"
  }
  notification "activation" {
    recipients         = [var.security_alerts]
    default_recipients = true
    level              = "all"
  }
}
