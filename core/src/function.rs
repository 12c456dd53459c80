//! The stack's functions, by the one name each carries everywhere: its binary, the end of its
//! Lambda function's name, its database role and its database secret.

use crate::job::JobName;

/// The environment variable template.yaml sets on each function to its name: every function
/// runs the one binary, which reads this at init to know which function it is.
pub const FUNCTION_VARIABLE: &str = "TIS_SYNC_FUNCTION";

/// A function of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Job(JobName),
    EsrExportDispatch,
    EsrExport,
    EsrIntake,
    SyncWatchdog,
    SyncStatus,
    SyncMigrate,
    SyncPreflight,
}

/// The functions that are not jobs, in the order `Function::all` lists them.
const NOT_JOBS: [Function; 7] = [
    Function::EsrExportDispatch,
    Function::EsrExport,
    Function::EsrIntake,
    Function::SyncWatchdog,
    Function::SyncStatus,
    Function::SyncMigrate,
    Function::SyncPreflight,
];

impl Function {
    /// Every function: the jobs, then the exporter's three, the watchdog, status, migrate and
    /// preflight.
    pub const ALL: [Function; JobName::ALL.len() + NOT_JOBS.len()] = {
        let mut functions = [Function::SyncMigrate; JobName::ALL.len() + NOT_JOBS.len()];
        let mut i = 0;
        while i < JobName::ALL.len() {
            functions[i] = Function::Job(JobName::ALL[i]);
            i += 1;
        }
        while i < functions.len() {
            functions[i] = NOT_JOBS[i - JobName::ALL.len()];
            i += 1;
        }
        functions
    };

    pub fn all() -> impl Iterator<Item = Function> {
        Function::ALL.into_iter()
    }

    pub fn name(self) -> &'static str {
        match self {
            Function::Job(job) => job.as_str(),
            Function::EsrExportDispatch => "esr-export-dispatch",
            Function::EsrExport => "esr-export",
            Function::EsrIntake => "esr-intake",
            Function::SyncWatchdog => "sync-watchdog",
            Function::SyncStatus => "sync-status",
            Function::SyncMigrate => "sync-migrate",
            Function::SyncPreflight => "sync-preflight",
        }
    }

    /// Its timeout (template.yaml's `Timeout`, Globals' 300 s where it sets none; a test holds
    /// the template to this): a run of it holding its job's lock longer is stuck.
    pub fn timeout(self) -> std::time::Duration {
        std::time::Duration::from_secs(match self {
            Function::Job(JobName::PersonElasticsearchSync | JobName::PostElasticsearchSync) => 900,
            Function::Job(_) | Function::SyncMigrate => 300,
            Function::EsrExport => 60,
            Function::EsrExportDispatch | Function::EsrIntake | Function::SyncStatus => 30,
            Function::SyncWatchdog | Function::SyncPreflight => 120,
        })
    }

    /// The database role the migrations create for it, holding exactly its grants
    /// (shared/migrations/0005_function_roles.sql). None for sync-migrate, which applies the
    /// migrations (creating those roles) and so reaches the database as the owner of the
    /// project's schemas.
    pub fn database_role(self) -> Option<String> {
        (self != Function::SyncMigrate).then(|| format!("tis_sync_{}", self.name().replace('-', "_")))
    }

    /// The name of its database secret: `<prefix><name>`, with the prefix the template gives
    /// every function as `DATABASE_SECRET_PREFIX`.
    pub fn secret_name(self, prefix: &str) -> String {
        format!("{prefix}{}", self.name())
    }
}

/// An AWS service a function calls from its code, inside the VPC: without NAT, each needs a VPC
/// endpoint (template.yaml, parameter VpcEndpoints). What Lambda does for a function (writing
/// its logs, polling its queue, fetching its code) does not leave from the VPC and is not here;
/// nor are the OpenSearch domain and the broker, which are in the VPC themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AwsService {
    /// Every function's database secret; the feeds' broker login.
    SecretsManager,
    /// The jobs' events, the exporter's.
    EventBridge,
    /// Export commands sent, the dead-letter queue's depth, a feed's queue.
    Sqs,
    /// ESR files; CloudFormation's answer to sync-migrate (a presigned URL on S3).
    S3,
    /// The watchdog starts jobs again; the preflight probes every function and reads the
    /// account's concurrency.
    Lambda,
    /// The domain's configuration API (DescribeDomain); the indexes are on the domain itself.
    OpenSearch,
    /// The preflight reads the stack's schedules.
    Scheduler,
}

impl AwsService {
    pub const ALL: [AwsService; 7] = [
        AwsService::SecretsManager,
        AwsService::EventBridge,
        AwsService::Sqs,
        AwsService::S3,
        AwsService::Lambda,
        AwsService::OpenSearch,
        AwsService::Scheduler,
    ];

    /// The last part of its VPC endpoint service's name, `com.amazonaws.<region>.<this>`.
    pub fn endpoint_service(self) -> &'static str {
        match self {
            AwsService::SecretsManager => "secretsmanager",
            AwsService::EventBridge => "events",
            AwsService::Sqs => "sqs",
            AwsService::S3 => "s3",
            AwsService::Lambda => "lambda",
            AwsService::OpenSearch => "es",
            AwsService::Scheduler => "scheduler",
        }
    }

    /// S3's endpoint is a gateway (on the subnets' route tables); the others are interfaces.
    pub fn gateway(self) -> bool {
        self == AwsService::S3
    }
}

impl Function {
    /// The AWS services it calls from its code (`AwsService`): every function reads its database
    /// secret at init; the rest is what its settings name (shared::config holds them equal).
    pub fn aws_services(self) -> &'static [AwsService] {
        use AwsService::*;
        match self {
            // A feed sends to TIS's broker (its login in a secret) or to an SQS queue.
            Function::Job(job) if crate::reval::FEEDS.contains(&job) => &[SecretsManager, EventBridge, Sqs],
            Function::Job(JobName::PersonElasticsearchSync | JobName::PostElasticsearchSync) => {
                &[SecretsManager, EventBridge, OpenSearch]
            }
            Function::Job(_) => &[SecretsManager, EventBridge],
            Function::EsrExportDispatch => &[SecretsManager, Sqs],
            Function::EsrExport => &[SecretsManager, EventBridge, S3],
            Function::EsrIntake => &[SecretsManager],
            Function::SyncWatchdog => &[SecretsManager, EventBridge, Lambda],
            Function::SyncStatus => &[SecretsManager, Sqs, OpenSearch],
            Function::SyncMigrate => &[SecretsManager, S3],
            Function::SyncPreflight => &[SecretsManager, Lambda, Scheduler],
        }
    }
}

impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The CLI names functions as everything else does (`invoke FUNCTION`).
#[cfg(feature = "clap")]
impl clap::ValueEnum for Function {
    fn value_variants<'a>() -> &'a [Self] {
        &Function::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

impl std::str::FromStr for Function {
    type Err = crate::InvalidInput;

    fn from_str(name: &str) -> crate::Result<Self> {
        Function::all().find(|f| f.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Function::all().map(Function::name).collect();
            crate::InvalidInput(format!("unknown function '{name}' (known: {})", known.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roles_and_secrets_follow_one_name() {
        let names: Vec<&str> = Function::all().map(Function::name).collect();
        assert_eq!(names.len(), 18);
        assert_eq!(Function::EsrIntake.database_role().as_deref(), Some("tis_sync_esr_intake"));
        assert_eq!(
            Function::Job(JobName::PersonOwnerRebuild).database_role().as_deref(),
            Some("tis_sync_person_owner_rebuild")
        );
        assert_eq!(Function::SyncMigrate.database_role(), None);
        assert_eq!(Function::SyncMigrate.secret_name("tis-sync/database/"), "tis-sync/database/sync-migrate");
        assert_eq!(Function::SyncStatus.secret_name("tis-sync/database/"), "tis-sync/database/sync-status");
        for function in Function::all() {
            assert_eq!(function.name().parse::<Function>().unwrap(), function);
        }
    }
}
