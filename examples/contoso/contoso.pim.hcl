# Contoso's privileged access, as code.
#
# `pim plan` in this directory runs against an embedded emulator seeded from
# tenant.json, so it needs no Azure tenant. Planned "now" (December 2026) it
# shows every kind of change: adopt, update, renew, create, remove (Global
# Administrator is exclusive), unmanaged holders of other roles, and policy
# updates where the tenant drifted from the settings below.

tenant {
  id           = "contoso.onmicrosoft.com"
  emulator     = "tenant.json"
  renew_within = "P14D"
}

state {
  backend = "local"
  path    = "pim.state.json"
}

variable "approvers" {
  description = "Who approves tier-0 activations."
  default     = ["group:PIM Approvers", "user:victor@contoso.com"]
}

variable "security_alerts" {
  description = "Mailbox for PIM alerts on tier-0 roles."
  default     = "pim-alerts@contoso.com"
}

locals {
  tier0           = ["Global Administrator", "Privileged Role Administrator", "Security Administrator"]
  tier0_ticket    = "ServiceNow:CHG0042001"
  standard_expiry = "2027-06-30T00:00:00Z"
  paris_office    = "/administrativeUnits/Paris Office"
}

# Only what is declared here may hold Global Administrator; the break-glass
# account is never removed, whatever the rest of the config says.
role "Global Administrator" {
  exclusive = true
  protected = ["user:breakglass1@contoso.com"]
}

# Only those declared may be members of the tier-0 group.
role "group:Tier0 Admins" {
  exclusive = true
}

role "Contoso Access Reviewer" {
  custom = true
}
