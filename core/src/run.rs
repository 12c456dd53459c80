//! What starts a run, and what becomes of it.

vocabulary! {
    /// What started a run.
    pub enum Trigger ("trigger") {
        Schedule = "schedule",
        FollowUp = "follow-up",
        Manual = "manual",
        CatchUp = "catch-up",
    }
    unknown = |text: &str, _known: &[&str]| {
        format!("unknown trigger '{text}' (expected schedule, follow-up, manual or catch-up)")
    };
}

vocabulary! {
    /// A run's status in the ledger.
    pub enum RunStatus ("status") {
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Deferred = "deferred",
        /// Left `running` by a process that died; closed by the next run of the job.
        Abandoned = "abandoned",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_and_trigger_has_one_string_form_and_unknown_text_is_an_error() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>().unwrap(), status);
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert!("done".parse::<RunStatus>().is_err(), "an unknown status is not taken for a failure");
        assert_eq!(serde_json::from_str::<Trigger>("\"follow-up\"").unwrap(), Trigger::FollowUp);
        let error = "nightly".parse::<Trigger>().unwrap_err().to_string();
        assert!(error.contains("unknown trigger 'nightly'"), "{error}");
    }
}
