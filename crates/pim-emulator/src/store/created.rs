//! Principals and custom roles created while the emulator runs, and when:
//! Graph takes a while to make a new object known to PIM (see
//! `Faults::new_object_delay_ms`).

use chrono::{DateTime, TimeDelta, Utc};

use super::Store;
use super::policies::RoleRec;
use super::seed::default_policy;
use crate::tenant::{CustomRole, Group, ServicePrincipal, User};

impl Store {
    fn id_taken(&self, id: &str) -> bool {
        self.principal_type(id).is_some() || self.role(id).is_some()
    }

    fn check_new(&self, id: &str) -> Result<String, String> {
        let id = id.trim().to_ascii_lowercase();
        if uuid::Uuid::parse_str(&id).is_err() {
            return Err(format!("{id:?} is not an object id"));
        }
        if self.id_taken(&id) {
            return Err(format!("object id {id} is already used"));
        }
        Ok(id)
    }

    pub fn add_user(&mut self, mut u: User, now: DateTime<Utc>) -> Result<(), String> {
        u.id = self.check_new(&u.id)?;
        let upn = u.user_principal_name.to_ascii_lowercase();
        if self.user(&upn).is_some() {
            return Err(format!("user principal name {upn} is already used"));
        }
        let i = self.users.len();
        self.rendered.user_keys.insert(u.id.clone(), i);
        self.rendered.user_keys.insert(upn, i);
        let v = Store::user_json(&u);
        self.rendered.user_index.insert(i, &v);
        self.rendered.users.push(v);
        self.created.insert(u.id.clone(), now);
        self.users.push(u);
        Ok(())
    }

    pub fn add_group(&mut self, mut g: Group, now: DateTime<Utc>) -> Result<(), String> {
        g.id = self.check_new(&g.id)?;
        let v = Store::group_json(&g);
        self.rendered
            .group_index
            .insert(self.rendered.groups.len(), &v);
        self.rendered.groups.push(v);
        self.created.insert(g.id.clone(), now);
        let id = g.id.clone();
        self.groups.push(g);
        self.add_group_policies(&id);
        Ok(())
    }

    pub fn add_service_principal(
        &mut self,
        mut s: ServicePrincipal,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        s.id = self.check_new(&s.id)?;
        let v = Store::sp_json(&s);
        self.rendered
            .sp_index
            .insert(self.rendered.service_principals.len(), &v);
        self.rendered.service_principals.push(v);
        self.created.insert(s.id.clone(), now);
        self.service_principals.push(s);
        Ok(())
    }

    /// A custom role, with the default policy every new role gets.
    pub fn add_role(&mut self, c: CustomRole, now: DateTime<Utc>) -> Result<(), String> {
        let id = self.check_new(&c.id)?;
        let rec = RoleRec {
            id: id.clone(),
            display_name: c.display_name,
            description: c.description.unwrap_or_default(),
            builtin: false,
            enabled: c.is_enabled,
            actions: c.allowed_resource_actions,
        };
        self.rendered.roles.push(rec.to_json());
        self.policies.push(default_policy(&self.tenant_id, &id));
        self.created.insert(id, now);
        self.roles.push(rec);
        Ok(())
    }

    /// Whether the object `id` was created less than `window` before `now`.
    pub fn created_within(&self, id: &str, now: DateTime<Utc>, window: TimeDelta) -> bool {
        self.created
            .get(&id.to_ascii_lowercase())
            .is_some_and(|t| now < *t + window)
    }
}
