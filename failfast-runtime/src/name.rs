//! A breaker's name, cheap to copy into every rejection.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// The name of a breaker, as it appears in [`Error::Open`](crate::Error::Open), in
/// [`Transition`](crate::Transition)s and in the registry.
///
/// It reads like a `&str` (it derefs to one and compares with one). Cloning a name from
/// a string literal, or one registered by name in the [registry](crate::registry) (which
/// keeps those names for the life of the process), copies a pointer: a rejection never
/// touches a shared reference count, so threads rejecting calls at once don't slow each
/// other down. A keyed breaker's name ([`Registry::keyed`](crate::Registry::keyed)) is
/// reference-counted instead, so that it is freed when the breaker is evicted.
///
/// ```
/// use failfast_runtime::BreakerName;
///
/// let name = BreakerName::from("sales_api");
/// assert_eq!(name, "sales_api");
/// assert_eq!(name.len(), 9);
/// assert_eq!(format!("{name}"), "sales_api");
/// assert_eq!(BreakerName::from(String::from("sales_api")), name);
/// ```
#[derive(Clone)]
pub struct BreakerName(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl BreakerName {
    /// The name as a string slice.
    ///
    /// ```
    /// use failfast_runtime::BreakerName;
    ///
    /// assert_eq!(BreakerName::from("db").as_str(), "db");
    /// ```
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }

    /// The same name, kept for the rest of the process so copies of it are free. Used by
    /// the registry, whose entries live as long as the process anyway.
    pub(crate) fn into_static(self) -> BreakerName {
        match self.0 {
            Repr::Static(_) => self,
            Repr::Shared(s) => BreakerName(Repr::Static(Box::leak(Box::from(&*s)))),
        }
    }
}

impl Deref for BreakerName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for BreakerName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for BreakerName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for BreakerName {
    fn from(name: &'static str) -> Self {
        BreakerName(Repr::Static(name))
    }
}

impl From<String> for BreakerName {
    fn from(name: String) -> Self {
        BreakerName(Repr::Shared(name.into()))
    }
}

impl From<Arc<str>> for BreakerName {
    fn from(name: Arc<str>) -> Self {
        BreakerName(Repr::Shared(name))
    }
}

impl PartialEq for BreakerName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for BreakerName {}

impl PartialEq<str> for BreakerName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for BreakerName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for BreakerName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BreakerName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for BreakerName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for BreakerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for BreakerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
