//! Where an app's runs may go and which nodes they prefer: constraints over node attributes
//! (Chronos and Marathon style), the placement profile (filters and weighted scorers), and
//! extended resources such as `gpu`.
//!
//! ```json
//! "constraints": [["rack", "GROUP_BY"], ["hostname", "UNIQUE"], ["zone", "LIKE", "eu-.*"]],
//! "placement": {"scorers": {"binpack": 2, "affinity": 1},
//!               "prefer": [["disk", "EQUALS", "ssd"]],
//!               "resources": {"gpu": 1}}
//! ```
//!
//! The names of filters and scorers are checked here against [`FILTERS`] and [`SCORERS`], the
//! plugins `rota-sched` registers (a test there keeps the two lists equal), so that a spec is
//! refused when it is added, not when it is scheduled.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Named extended resources (`gpu`, Cosmos' `disk.space`, …) and their amounts, in whole units.
pub type ExtendedResources = BTreeMap<String, u64>;

/// The filters a profile may name. `node-ready` and `resources` always apply, named or not.
pub const FILTERS: &[&str] = &["node-ready", "resources", "constraint"];

/// The filters that apply whatever a profile names.
pub const MANDATORY_FILTERS: &[&str] = &["node-ready", "resources"];

/// The scorers a profile may name.
pub const SCORERS: &[&str] = &["binpack", "spread", "balanced", "affinity"];

/// The attribute every node has: its id (as in Chronos, where every offer has `hostname`).
pub const HOSTNAME: &str = "hostname";

/// The largest weight a scorer may have in a profile.
pub const MAX_WEIGHT: u32 = 100;

/// A constraint's operator, as Chronos and Marathon spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// The attribute equals the value.
    Equals,
    /// The attribute matches the value, a regular expression, in full.
    Like,
    /// The attribute does not match the value, a regular expression, in full.
    Unlike,
    /// No two running runs of the app share a value of the attribute.
    Unique,
    /// Runs of the app spread evenly over the values of the attribute (the value, when
    /// given, is the least number of groups to spread over).
    GroupBy,
}

impl Operator {
    /// Every operator, in the order they are documented.
    pub const ALL: [Operator; 5] = [
        Operator::Equals,
        Operator::Like,
        Operator::Unlike,
        Operator::Unique,
        Operator::GroupBy,
    ];

    /// The operator's name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "EQUALS",
            Operator::Like => "LIKE",
            Operator::Unlike => "UNLIKE",
            Operator::Unique => "UNIQUE",
            Operator::GroupBy => "GROUP_BY",
        }
    }

    /// Whether the answer depends only on the node's attributes (not on other runs).
    pub fn is_static(self) -> bool {
        matches!(self, Operator::Equals | Operator::Like | Operator::Unlike)
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One constraint: `[attribute, operator]` or `[attribute, operator, value]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Constraint {
    /// The node attribute (`hostname` is every node's id).
    pub attribute: String,
    /// How it is compared.
    pub operator: Operator,
    /// The value or pattern; required by EQUALS, LIKE and UNLIKE, optional for GROUP_BY.
    pub value: Option<String>,
}

impl Constraint {
    /// Checks the value against the operator; the message says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        if self.attribute.is_empty() {
            return Err("the attribute must not be empty".into());
        }
        match (self.operator, &self.value) {
            (Operator::Equals | Operator::Like | Operator::Unlike, None) => {
                Err(format!("{} needs a value", self.operator))
            }
            (Operator::Like | Operator::Unlike, Some(_)) => self
                .regex()
                .map(drop)
                .map_err(|e| format!("invalid {} regex: {e}", self.operator)),
            (Operator::Unique, Some(_)) => Err("UNIQUE takes no value".into()),
            (Operator::GroupBy, Some(v)) if !matches!(v.parse::<u32>(), Ok(1..)) => Err(format!(
                "the GROUP_BY value is a number of groups (1 or more), not `{v}`"
            )),
            _ => Ok(()),
        }
    }

    /// The compiled pattern of a LIKE or UNLIKE constraint, anchored to match the whole
    /// attribute (as Chronos and Marathon do). Compile it once and keep it: this is not cheap.
    pub fn regex(&self) -> Result<regex::Regex, regex::Error> {
        let pattern = self.value.as_deref().unwrap_or_default();
        regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
            .size_limit(1 << 20)
            .build()
    }

    /// The number of groups a GROUP_BY constraint asks for at least (1 when not given).
    pub fn groups(&self) -> u32 {
        self.value
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{} {} {value}", self.attribute, self.operator),
            None => write!(f, "{} {}", self.attribute, self.operator),
        }
    }
}

impl Serialize for Constraint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(2 + usize::from(self.value.is_some())))?;
        seq.serialize_element(&self.attribute)?;
        seq.serialize_element(self.operator.as_str())?;
        if let Some(value) = &self.value {
            seq.serialize_element(value)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Constraint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ConstraintVisitor)
    }
}

struct ConstraintVisitor;

impl<'de> Visitor<'de> for ConstraintVisitor {
    type Value = Constraint;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a constraint [attribute, operator] or [attribute, operator, value]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Constraint, A::Error> {
        let attribute: String = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let operator: String = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        let operator = Operator::ALL
            .into_iter()
            .find(|op| op.as_str() == operator)
            .ok_or_else(|| {
                de::Error::custom(format!(
                    "unknown operator `{operator}`: use EQUALS, LIKE, UNLIKE, UNIQUE or GROUP_BY"
                ))
            })?;
        let value: Option<String> = seq.next_element()?;
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(4, &self));
        }
        Ok(Constraint {
            attribute,
            operator,
            value,
        })
    }
}

/// How an app's runs are placed: filters, weighted scorers, soft preferences and the extended
/// resources each run needs. Every field is optional; `{}` is the default profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementProfile {
    /// Filters by name, from [`FILTERS`]; `node-ready` and `resources` apply in any case.
    #[serde(default = "default_filters")]
    pub filters: Vec<String>,
    /// Scorers by name, from [`SCORERS`], each with a weight from 1 to [`MAX_WEIGHT`].
    #[serde(default = "default_scorers")]
    pub scorers: BTreeMap<String, u32>,
    /// Soft constraints (EQUALS, LIKE, UNLIKE) for the `affinity` scorer: a node that meets
    /// more of them scores higher.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefer: Vec<Constraint>,
    /// Extended resources each run needs, beside `cores` and `mems`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: ExtendedResources,
}

impl Default for PlacementProfile {
    fn default() -> Self {
        PlacementProfile {
            filters: default_filters(),
            scorers: default_scorers(),
            prefer: Vec::new(),
            resources: ExtendedResources::new(),
        }
    }
}

fn default_filters() -> Vec<String> {
    FILTERS.iter().map(|f| f.to_string()).collect()
}

/// Bin-packing first (keeps whole nodes free for large runs), then balance between cores and
/// memory, then the app's preferences.
fn default_scorers() -> BTreeMap<String, u32> {
    BTreeMap::from([
        ("binpack".to_string(), 2),
        ("balanced".to_string(), 1),
        ("affinity".to_string(), 1),
    ])
}

/// A placement field that was refused: its JSON path and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct PlacementError {
    /// The JSON path of the field, such as `constraints[1]` or `placement.scorers.spread`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn refuse(field: String, message: impl Into<String>) -> PlacementError {
    PlacementError {
        field,
        message: message.into(),
    }
}

/// Checks an app's `constraints` and `placement` together.
pub fn validate(
    constraints: &[Constraint],
    placement: &PlacementProfile,
) -> Result<(), PlacementError> {
    for (i, constraint) in constraints.iter().enumerate() {
        constraint
            .check()
            .map_err(|m| refuse(format!("constraints[{i}]"), m))?;
    }
    for (i, filter) in placement.filters.iter().enumerate() {
        let field = || format!("placement.filters[{i}]");
        if !FILTERS.contains(&filter.as_str()) {
            return Err(refuse(
                field(),
                format!("unknown filter `{filter}`: use {}", FILTERS.join(", ")),
            ));
        }
        if placement.filters[..i].contains(filter) {
            return Err(refuse(field(), format!("`{filter}` is named twice")));
        }
    }
    for (name, weight) in &placement.scorers {
        let field = format!("placement.scorers.{name}");
        if !SCORERS.contains(&name.as_str()) {
            return Err(refuse(
                field,
                format!("unknown scorer `{name}`: use {}", SCORERS.join(", ")),
            ));
        }
        if !(1..=MAX_WEIGHT).contains(weight) {
            return Err(refuse(
                field,
                format!(
                    "the weight must be 1 to {MAX_WEIGHT}; leave the scorer out to turn it off"
                ),
            ));
        }
    }
    for (i, preference) in placement.prefer.iter().enumerate() {
        let field = format!("placement.prefer[{i}]");
        if !preference.operator.is_static() {
            return Err(refuse(field, "a preference is EQUALS, LIKE or UNLIKE"));
        }
        preference.check().map_err(|m| refuse(field, m))?;
    }
    for (name, amount) in &placement.resources {
        let field = format!("placement.resources.{name}");
        let portable = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if name.is_empty() || !portable || name == "cores" || name == "mems" {
            return Err(refuse(
                field,
                "an extended resource is named with A-Z a-z 0-9 . _ - and is not cores or mems",
            ));
        }
        if *amount == 0 {
            return Err(refuse(
                field,
                "must be greater than 0; leave it out instead",
            ));
        }
    }
    if !constraints.is_empty() && !placement.filters.iter().any(|f| f == "constraint") {
        return Err(refuse(
            "constraints".into(),
            "the placement profile leaves out the `constraint` filter, so these would be ignored",
        ));
    }
    if !placement.prefer.is_empty() && !placement.scorers.contains_key("affinity") {
        return Err(refuse(
            "placement.prefer".into(),
            "preferences need the `affinity` scorer in `placement.scorers`",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn constraints(value: serde_json::Value) -> Result<Vec<Constraint>, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    fn refused_field(constraints: &[Constraint], placement: serde_json::Value) -> String {
        let placement: PlacementProfile = serde_json::from_value(placement).unwrap();
        validate(constraints, &placement).unwrap_err().field
    }

    #[test]
    fn marathon_style_constraints_round_trip() {
        let text = json!([
            ["rack", "GROUP_BY"],
            ["hostname", "UNIQUE"],
            ["zone", "LIKE", "eu-.*"]
        ]);
        let parsed = constraints(text.clone()).unwrap();
        assert_eq!(parsed[0].operator, Operator::GroupBy);
        assert_eq!(parsed[2].value.as_deref(), Some("eu-.*"));
        assert_eq!(serde_json::to_value(&parsed).unwrap(), text);
        validate(&parsed, &PlacementProfile::default()).unwrap();
    }

    #[test]
    fn an_unknown_operator_is_refused_with_the_operators_to_use() {
        let err = constraints(json!([["zone", "NEAR", "x"]])).unwrap_err();
        assert!(err.contains("unknown operator `NEAR`"), "{err}");
    }

    #[test]
    fn a_like_pattern_matches_the_whole_attribute() {
        let like = &constraints(json!([["zone", "LIKE", "eu-.*"]])).unwrap()[0];
        let regex = like.regex().unwrap();
        assert!(regex.is_match("eu-west"));
        assert!(!regex.is_match("us-eu-west"));
    }

    #[test]
    fn each_bad_constraint_is_named_by_its_index() {
        let default = json!({});
        for (bad, why) in [
            (json!(["zone", "LIKE", "eu-("]), "invalid LIKE regex"),
            (json!(["zone", "EQUALS"]), "needs a value"),
            (json!(["hostname", "UNIQUE", "x"]), "takes no value"),
            (json!(["rack", "GROUP_BY", "zero"]), "number of groups"),
            (json!(["", "UNIQUE"]), "must not be empty"),
        ] {
            let list = constraints(json!([["zone", "EQUALS", "a"], bad])).unwrap();
            let placement: PlacementProfile = serde_json::from_value(default.clone()).unwrap();
            let err = validate(&list, &placement).unwrap_err();
            assert_eq!(err.field, "constraints[1]");
            assert!(err.message.contains(why), "{err}");
        }
    }

    #[test]
    fn unknown_plugins_and_bad_weights_are_named() {
        assert_eq!(
            refused_field(&[], json!({"filters": ["resources", "taints"]})),
            "placement.filters[1]"
        );
        assert_eq!(
            refused_field(&[], json!({"scorers": {"random": 1}})),
            "placement.scorers.random"
        );
        assert_eq!(
            refused_field(&[], json!({"scorers": {"spread": 0}})),
            "placement.scorers.spread"
        );
        assert_eq!(
            refused_field(&[], json!({"prefer": [["rack", "UNIQUE"]]})),
            "placement.prefer[0]"
        );
        assert_eq!(
            refused_field(&[], json!({"resources": {"cores": 1}})),
            "placement.resources.cores"
        );
    }

    #[test]
    fn a_profile_must_keep_the_plugins_its_constraints_and_preferences_need() {
        let zone = constraints(json!([["zone", "EQUALS", "a"]])).unwrap();
        assert_eq!(
            refused_field(&zone, json!({"filters": ["resources"]})),
            "constraints"
        );
        assert_eq!(
            refused_field(
                &[],
                json!({"scorers": {"binpack": 1}, "prefer": [["zone", "EQUALS", "a"]]})
            ),
            "placement.prefer"
        );
    }

    #[test]
    fn an_app_spec_names_the_bad_placement_field() {
        let app = |extra: serde_json::Value| {
            let mut spec =
                json!({"name": "a", "queue": "q", "cores": 1, "mems": 10, "command": ["true"]});
            spec.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            crate::AppSpec::from_value(spec)
        };
        let ok = app(json!({
            "constraints": [["zone", "LIKE", "eu-.*"]],
            "placement": {"scorers": {"spread": 1}, "resources": {"gpu": 2}}
        }))
        .unwrap();
        assert_eq!(ok.placement.unwrap().resources["gpu"], 2);
        for (extra, field) in [
            (
                json!({"constraints": [["zone", "NEAR", "x"]]}),
                "constraints[0]",
            ),
            (
                json!({"constraints": [["zone", "LIKE", "("]]}),
                "constraints[0]",
            ),
            (
                json!({"placement": {"scorers": {"fastest": 1}}}),
                "placement.scorers.fastest",
            ),
            (json!({"placement": {"colour": "red"}}), "colour"),
        ] {
            match app(extra.clone()).unwrap_err() {
                crate::SpecError::Field { field: got, .. } => assert_eq!(got, field, "{extra}"),
                other => panic!("{extra}: {other}"),
            }
        }
    }

    #[test]
    fn an_empty_profile_is_the_default_one() {
        let empty: PlacementProfile = serde_json::from_value(json!({})).unwrap();
        assert_eq!(empty, PlacementProfile::default());
        assert_eq!(empty.filters, FILTERS);
    }
}
