//! `tis-sync opensearch-access`: what an operator applies on the search domain, which is not the
//! stack's, for the deployed names: a statement for the domain's access policy, and with
//! fine-grained access control each function's role and its mapping to the function's IAM
//! role (the security plugin's REST API, pasted into OpenSearch Dashboards' Dev Tools). The
//! stack's `OpenSearchAccessCommand` output is this command with every value filled in.

use serde_json::json;
use shared::Error;
use sync_core::search_access::Aliases;
use sync_core::Function;

use super::{Outcome, Output};

#[derive(clap::Args)]
pub struct OpenSearchAccess {
    /// The domain's ARN (arn:aws:es:<region>:<account>:domain/<name>).
    #[arg(long, value_name = "ARN")]
    domain_arn: String,
    /// What precedes each function's name (`<stack>-`); the domain's roles are named as the
    /// functions are.
    #[arg(long, value_name = "PREFIX")]
    function_prefix: String,
    /// A function that uses the domain and its IAM role's ARN (the stack's `*RoleArn`
    /// outputs); one for each such function.
    #[arg(long = "role", value_name = "FUNCTION=ARN", value_parser = parse_role)]
    roles: Vec<(Function, String)>,
    #[arg(long, value_name = "ALIAS", default_value = "persons")]
    persons_alias: String,
    #[arg(long, value_name = "ALIAS", default_value = "posts")]
    posts_alias: String,
}

fn parse_role(text: &str) -> Result<(Function, String), String> {
    let (function, arn) = text.split_once('=').ok_or("expected FUNCTION=ARN")?;
    let function: Function = function.parse().map_err(|e: sync_core::InvalidInput| e.0)?;
    if !arn.starts_with("arn:") || !arn.contains(":role/") {
        return Err(format!("{arn} is not an IAM role's ARN"));
    }
    Ok((function, arn.to_string()))
}

impl OpenSearchAccess {
    pub fn execute(self) -> Outcome {
        for (setting, alias) in [("--persons-alias", &self.persons_alias), ("--posts-alias", &self.posts_alias)] {
            sync_core::search_index::check_alias(setting, alias)?;
        }
        let users: Vec<(Function, sync_core::search_access::SearchUse)> =
            Function::all().filter_map(|f| f.search_use().map(|used| (f, used))).collect();
        if let Some((function, _)) = self.roles.iter().find(|(f, _)| f.search_use().is_none()) {
            return Err(
                Error::InvalidInput(format!("--role {function}: {function} does not use the search domain")).into()
            );
        }
        let role_of = |function: Function| -> Result<&str, Error> {
            let mut given = self.roles.iter().filter(|(f, _)| *f == function);
            match (given.next(), given.next()) {
                (Some((_, arn)), None) => Ok(arn),
                (None, _) => Err(Error::InvalidInput(format!("--role {function}=ARN is missing"))),
                (Some(_), Some(_)) => Err(Error::InvalidInput(format!("--role {function} is given twice"))),
            }
        };
        let aliases = Aliases { persons: self.persons_alias.clone(), posts: self.posts_alias.clone() };
        let mut statements = Vec::new();
        let mut requests = String::new();
        for &(function, used) in &users {
            let arn = role_of(function)?;
            statements.push(json!({
                "Sid": format!("TisSync{}", function.name().split('-').map(capitalise).collect::<String>()),
                "Effect": "Allow",
                "Principal": { "AWS": arn },
                "Action": used.http_actions(),
                "Resource": format!("{}/*", self.domain_arn),
            }));
            let name = format!("{}{function}", self.function_prefix);
            let role = pretty(&used.domain_role(&aliases));
            let mapping = pretty(&json!({ "backend_roles": [arn] }));
            requests.push_str(&format!(
                "PUT _plugins/_security/api/roles/{name}\n{role}\n\nPUT _plugins/_security/api/rolesmapping/{name}\n{mapping}\n\n"
            ));
        }
        let policy = pretty(&json!({ "Statement": statements }));
        Ok(Output::Text(format!(
            "# 1. The domain's access policy ({domain}): add these statements to its Statement list\n\
             #    (console: the domain, Security configuration, Access policy).\n{policy}\n\n\
             # 2. With fine-grained access control: each function's role and its mapping to the\n\
             #    function's IAM role (OpenSearch Dashboards, Dev Tools, as the domain's admin).\n{requests}\
             # 3. The domain's security group admits the functions' security group on 443.",
            domain = self.domain_arn,
        )))
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// JSON as people paste it; what is printed here is plain data, which always serialises.
fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("plain data serialises")
}
