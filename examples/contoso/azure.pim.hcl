# Azure resource roles: Azure RBAC roles made eligible (or active) at a
# management group, subscription, resource group or resource. A role is a
# built-in Azure role by name or any role definition by its GUID; the scope
# is the ARM id. Grants made at a management group are inherited below it:
# pim shows them at the subscription and never removes them there.

locals {
  production = "/subscriptions/3f2a8c41-6b1e-4d2a-9c7e-5a8b0e1f2d34"
}

eligibility "bob_owner_production" {
  principal     = "user:bob@contoso.com"
  azure_role    = "Owner"
  scope         = local.production
  duration      = "P180D"
  justification = "Cloud platform lead"
}

eligibility "alice_contributor_payments" {
  principal     = "user:alice@contoso.com"
  azure_role    = "Contributor"
  scope         = "${local.production}/resourceGroups/rg-payments"
  duration      = "P90D"
  justification = "Payments on-call"
}

eligibility "carol_blob_reader_data" {
  principal     = "user:carol@contoso.com"
  azure_role    = "Storage Blob Data Reader"
  scope         = "${local.production}/resourceGroups/rg-data"
  duration      = "P90D"
  justification = "Security investigations, audit logs only"
  condition     = "((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'})) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'audit-logs'))"
}

# Owner of production is held only as declared here; inherited grants from
# the management group are outside this scope and stay.
role "azure:Owner" {
  scope     = local.production
  exclusive = true
}

policy "azure:Owner" {
  scope = local.production
  activation {
    max_duration          = "PT2H"
    require_mfa           = true
    require_justification = true
    approval {
      approvers = ["group:PIM Approvers"]
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
