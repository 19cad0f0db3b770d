# The smallest useful configuration: one person may activate one role.
tenant {
  id = "contoso.onmicrosoft.com"
}

eligibility "alice_user_admin" {
  principal     = "user:alice@contoso.com"
  role          = "User Administrator"
  duration      = "P180D"
  justification = "Helpdesk lead"
}
