//! Messages to the person running the build; the host prefixes them with the build name.

use crate::bindings::kiln::plugin::ui as host_ui;

/// A step-level announcement (`==> null.web: ...`).
pub fn say(message: &str) {
    host_ui::say(message)
}

/// Detail under the current step (`    null.web: ...`).
pub fn message(message: &str) {
    host_ui::message(message)
}

/// An error the user should see.
pub fn error(message: &str) {
    host_ui::error(message)
}
