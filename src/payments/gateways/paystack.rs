//! `paystack`: not implemented yet; the gateway stays disabled whatever is configured.

use std::sync::Arc;

use super::Gateway;
use crate::config::PaymentsConfig;

/// The Paystack gateway when its key is configured.
pub fn from_config(_config: &PaymentsConfig, _http: &reqwest::Client) -> Option<Arc<dyn Gateway>> {
    None
}
