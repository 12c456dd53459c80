//! The nightly jobs by name. The kebab-case name is what function names, events, the CLI and
//! the ledger all use.

vocabulary! {
    /// A job.
    pub enum JobName ("job") {
        PersonOwnerRebuild = "person-owner-rebuild",
        PersonPlacementEmployingBodyTrust = "person-placement-employing-body-trust",
        PersonPlacementTrainingBodyTrust = "person-placement-training-body-trust",
        PostEmployingBodyTrust = "post-employing-body-trust",
        PostTrainingBodyTrust = "post-training-body-trust",
        PersonRecordStatus = "person-record-status",
        PostFundingStatus = "post-funding-status",
        RevalCurrentPmSync = "reval-current-pm-sync",
        RevalCurrentPlacementSync = "reval-current-placement-sync",
        PersonElasticsearchSync = "person-elasticsearch-sync",
        PostElasticsearchSync = "post-elasticsearch-sync",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known_ones() {
        for job in JobName::ALL {
            assert_eq!(job.as_str().parse::<JobName>().unwrap(), job);
        }
        let error = "person-owner".parse::<JobName>().unwrap_err().to_string();
        assert!(error.contains("unknown job 'person-owner'"), "{error}");
        assert!(error.contains("person-owner-rebuild"), "{error}");
    }
}
