//! A fresh request for every attempt: the before-connect hook sees each
//! attempt before it starts and may change its URL and headers, or stop it.

use std::string::String;
use std::vec::Vec;

use crate::transport::{Target, UrlError};

/// One attempt as the before-connect hook sees it
/// ([`super::ClientBuilder::before_connect`]). It starts from the builder's
/// URL for the endpoint and the builder's headers, every time: what the hook
/// changes applies to this attempt only.
///
/// ```no_run
/// # use wstether::client::ClientBuilder;
/// # fn fresh_token() -> String { String::new() }
/// let client = ClientBuilder::new("wss://stream.example.com/private")
///     .before_connect(|attempt| {
///         attempt.set_header("Authorization", format!("Bearer {}", fresh_token()));
///     })
///     .connect()?;
/// # Ok::<(), wstether::client::BuildError>(())
/// ```
#[derive(Debug)]
pub struct Attempt {
    number: u32,
    endpoint: u8,
    target: Target,
    url: String,
    headers: Vec<(String, String)>,
    verdict: Option<Verdict>,
}

/// The hook's decision to not make the attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// This attempt fails; the schedule goes on.
    Fail(String),
    /// The session stops: a permanent failure.
    Stop(String),
}

impl Attempt {
    pub(crate) fn new(
        number: u32,
        endpoint: u8,
        url: String,
        target: Target,
        headers: Vec<(String, String)>,
    ) -> Attempt {
        Attempt {
            number,
            endpoint,
            target,
            url,
            headers,
            verdict: None,
        }
    }

    /// The attempt number within the current outage, from 1.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The endpoint index (the order of the builder's URLs).
    pub fn endpoint(&self) -> u8 {
        self.endpoint
    }

    /// The URL this attempt connects to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connects this attempt to `url` instead (a fresh token in the query,
    /// a different host). Checked like the builder's URLs.
    pub fn set_url(&mut self, url: impl Into<String>) -> Result<(), UrlError> {
        let url = url.into();
        self.target = Target::parse(&url)?;
        self.url = url;
        Ok(())
    }

    /// The value of header `name` (any case), as it stands.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets header `name`, replacing every header of that name. Header
    /// values are never logged. A name or value that is not valid fails the
    /// attempt (and the next one tries again).
    pub fn set_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.remove_header(&name);
        self.headers.push((name, value.into()));
    }

    /// Removes every header named `name` (any case).
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The headers as they stand.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Fails this attempt without connecting (credentials not ready yet):
    /// the reconnect schedule goes on.
    pub fn fail(&mut self, reason: impl Into<String>) {
        self.verdict = Some(Verdict::Fail(reason.into()));
    }

    /// Stops the session: a permanent failure with `reason`.
    pub fn stop(&mut self, reason: impl Into<String>) {
        self.verdict = Some(Verdict::Stop(reason.into()));
    }

    pub(crate) fn into_parts(self) -> (Target, Vec<(String, String)>, Option<Verdict>) {
        (self.target, self.headers, self.verdict)
    }
}
