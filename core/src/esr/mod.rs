//! The ESR exporter's vocabulary (docs/esr-export.md): the export command, the two kinds of
//! file and their byte layout.

pub mod command;
pub mod layout;

pub use command::Command;

vocabulary! {
    /// The two kinds of file: applicants (APP) and notifications (DNC).
    pub enum Kind ("kind") {
        App = "app",
        Notification = "notification",
    }
    unknown = |text: &str, _known: &[&str]| format!("kind '{text}' is not app or notification");
}

impl Kind {
    /// The code in file names and headers.
    pub fn file_code(self) -> &'static str {
        match self {
            Kind::App => "APP",
            Kind::Notification => "DNC",
        }
    }
}
