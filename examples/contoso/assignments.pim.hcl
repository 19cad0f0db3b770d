# Who may hold which role. Eligibilities are activated on demand; assignments
# are active all the time they last.

# --- Tier 0 -----------------------------------------------------------------

assignment "breakglass_ga" {
  principal     = "user:breakglass1@contoso.com"
  role          = "Global Administrator"
  permanent     = true
  justification = "Emergency access account (break glass)"
}

eligibility "alice_ga" {
  principal     = "user:alice@contoso.com"
  role          = "Global Administrator"
  expires       = local.standard_expiry
  justification = "CISO, tier-0 on-call"
}

eligibility "bob_ga" {
  principal     = "user:bob@contoso.com"
  role          = "Global Administrator"
  duration      = "P180D"
  justification = format("Cloud platform lead, change %s", local.tier0_ticket)
  ticket        = local.tier0_ticket
}

eligibility "carol_security" {
  principal     = "user:carol@contoso.com"
  role          = "Security Administrator"
  expires       = local.standard_expiry
  justification = "Security engineering"
}

eligibility "tier0_admins_security" {
  principal     = "group:Tier0 Admins"
  role          = "Security Administrator"
  duration      = "P365D"
  justification = "Tier-0 administrators group"
}

eligibility "dave_pra" {
  principal     = "user:dave@contoso.com"
  role          = "Privileged Role Administrator"
  expires       = local.standard_expiry
  justification = "Identity architecture"
  ticket        = local.tier0_ticket
}

# --- Helpdesk ---------------------------------------------------------------

eligibility "helpdesk" {
  for_each      = toset(["user:erin@contoso.com", "user:grace@contoso.com", "user:heidi@contoso.com"])
  principal     = each.value
  role          = "Helpdesk Administrator"
  duration      = "P90D"
  justification = "Helpdesk rota"
}

eligibility "paris_user_admins" {
  for_each = {
    ivan = "user:ivan@contoso.com"
    judy = "user:judy@contoso.com"
  }
  principal     = each.value
  role          = "User Administrator"
  scope         = local.paris_office
  duration      = "P90D"
  justification = "Paris office user administration (${each.key})"
}

eligibility "paris_helpdesk_passwords" {
  principal     = "group:Paris Helpdesk"
  role          = "Password Administrator"
  scope         = local.paris_office
  duration      = "P180D"
  justification = "Password resets for the Paris office"
}

# --- Security operations and compliance -------------------------------------

eligibility "soc_readers" {
  for_each      = toset(["user:peggy@contoso.com", "user:rupert@contoso.com", "user:sybil@contoso.com"])
  principal     = each.value
  role          = "Security Reader"
  duration      = "P180D"
  justification = "SOC rota"
}

eligibility "olivia_access_reviews" {
  principal     = "user:olivia@contoso.com"
  role          = "Contoso Access Reviewer"
  expires       = local.standard_expiry
  justification = "Quarterly access reviews"
}

assignment "victor_global_reader" {
  principal     = "user:victor@contoso.com"
  role          = "Global Reader"
  duration      = "P90D"
  justification = "Annual IT audit"
}

# --- Messaging and collaboration --------------------------------------------

eligibility "trent_exchange" {
  principal     = "user:trent@contoso.com"
  role          = "Exchange Administrator"
  duration      = "P180D"
  justification = "Messaging engineering"
}

eligibility "walter_teams" {
  principal     = "user:walter@contoso.com"
  role          = "Teams Administrator"
  duration      = "P90D"
  justification = "Teams rollout"
}

# --- Automation -------------------------------------------------------------

assignment "automation_user_admin" {
  principal     = "sp:pim-automation"
  role          = "User Administrator"
  duration      = "P180D"
  justification = "Joiner/mover/leaver automation"
}

# --- PIM for Groups ---------------------------------------------------------

# Tier0 Admins holds Global Administrator; membership of the group is itself
# just-in-time: its members are eligible, and activate membership (and with
# it the role) for two hours at a time, with approval (policies.pim.hcl).
assignment "tier0_admins_ga" {
  principal     = "group:Tier0 Admins"
  role          = "Global Administrator"
  duration      = "P180D"
  justification = "Tier-0 administrators hold Global Administrator through the group"
}

eligibility "tier0_admins" {
  for_each      = toset(["user:alice@contoso.com", "user:dave@contoso.com"])
  principal     = each.value
  group         = "group:Tier0 Admins"
  duration      = "P180D"
  justification = "Tier-0 administrators, activated on demand"
}

assignment "tier0_admins_owner" {
  principal     = "user:victor@contoso.com"
  group         = "group:Tier0 Admins"
  access        = "owner"
  duration      = "P90D"
  justification = "Reviews who may join the tier-0 group"
}
