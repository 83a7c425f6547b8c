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

/// Whether the person running Kiln sees progress bars: a host command that reports its
/// progress only to draw one (`qemu-img convert -p`) need not be asked to when not.
pub fn progress_shown() -> bool {
    host_ui::progress_shown()
}
