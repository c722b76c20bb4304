//! Amounts of resources: the public shape (cores as a float, memory in MB, named extended
//! resources) and the dense integer vectors the core computes with (cores in thousandths, so
//! that sums never drift).

use std::collections::{BTreeMap, BTreeSet};

use rota_model::placement::ExtendedResources;
use serde::{Deserialize, Serialize};

/// An amount of cores, memory and extended resources.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resources {
    /// CPU cores.
    pub cores: f64,
    /// Memory, MB.
    pub mems: i64,
    /// Extended resources by name (`gpu`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extended: ExtendedResources,
}

impl Resources {
    /// Cores and memory, no extended resources.
    pub fn new(cores: f64, mems: i64) -> Self {
        Resources {
            cores,
            mems,
            extended: ExtendedResources::new(),
        }
    }

    /// This amount with `amount` of the extended resource `name`.
    pub fn with(mut self, name: &str, amount: u64) -> Self {
        self.extended.insert(name.to_string(), amount);
        self
    }
}

/// Upper or lower bounds per resource; a resource left out is not bounded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Limits {
    /// CPU cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<f64>,
    /// Memory, MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mems: Option<i64>,
    /// Extended resources by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extended: ExtendedResources,
}

impl Limits {
    /// Cores and memory.
    pub fn new(cores: f64, mems: i64) -> Self {
        Limits {
            cores: Some(cores),
            mems: Some(mems),
            extended: ExtendedResources::new(),
        }
    }

    /// Cores only.
    pub fn cores(cores: f64) -> Self {
        Limits {
            cores: Some(cores),
            ..Limits::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.cores.is_none() && self.mems.is_none() && self.extended.is_empty()
    }
}

const MILLI: f64 = 1000.0;

/// The resource dimensions of one round: cores, mems, then each extended resource that a
/// node, a queue or a run names, in name order.
#[derive(Debug, Clone)]
pub(crate) struct Dims {
    extended: Vec<String>,
}

/// Index of the cores dimension.
pub(crate) const CORES: usize = 0;
/// Index of the memory dimension.
pub(crate) const MEMS: usize = 1;

impl Dims {
    pub(crate) fn new<'a>(extended: impl IntoIterator<Item = &'a String>) -> Dims {
        let names: BTreeSet<&String> = extended.into_iter().collect();
        Dims {
            extended: names.into_iter().cloned().collect(),
        }
    }

    /// How many dimensions there are.
    pub(crate) fn len(&self) -> usize {
        2 + self.extended.len()
    }

    pub(crate) fn name(&self, dim: usize) -> &str {
        match dim {
            CORES => "cores",
            MEMS => "mems",
            d => &self.extended[d - 2],
        }
    }

    /// Appends `amount` as a dense vector.
    pub(crate) fn push(&self, amount: &Resources, out: &mut Vec<i64>) {
        out.push((amount.cores * MILLI).round() as i64);
        out.push(amount.mems);
        for name in &self.extended {
            let v = amount.extended.get(name).copied().unwrap_or(0);
            out.push(i64::try_from(v).unwrap_or(i64::MAX));
        }
    }

    /// `amount` as a dense vector.
    pub(crate) fn vector(&self, amount: &Resources) -> Vec<i64> {
        let mut out = Vec::with_capacity(self.len());
        self.push(amount, &mut out);
        out
    }

    /// `limits` as a dense vector, `unbounded` where a resource is not limited; `None` when
    /// nothing is limited.
    pub(crate) fn limits(&self, limits: &Limits, unbounded: i64) -> Option<Vec<i64>> {
        if limits.is_empty() {
            return None;
        }
        let mut out = vec![
            limits
                .cores
                .map_or(unbounded, |c| (c * MILLI).round() as i64),
            limits.mems.unwrap_or(unbounded),
        ];
        for name in &self.extended {
            let v = limits.extended.get(name).copied();
            out.push(v.map_or(unbounded, |v| i64::try_from(v).unwrap_or(i64::MAX)));
        }
        Some(out)
    }

    /// A dense vector as public resources (extended ones only where not zero).
    pub(crate) fn resources(&self, amounts: &[i64]) -> Resources {
        Resources {
            cores: self.readable(CORES, amounts[CORES]),
            mems: amounts[MEMS],
            extended: self
                .extended
                .iter()
                .zip(&amounts[2..])
                .filter(|(_, a)| **a > 0)
                .map(|(name, a)| (name.clone(), *a as u64))
                .collect(),
        }
    }

    /// An internal amount in the unit people read (cores, MB, units).
    pub(crate) fn readable(&self, dim: usize, amount: i64) -> f64 {
        if dim == CORES {
            amount as f64 / MILLI
        } else {
            amount as f64
        }
    }

    /// "8 cores", "512 MB", "2 gpu".
    pub(crate) fn show(&self, dim: usize, amount: i64) -> String {
        show_amount(self.name(dim), self.readable(dim, amount))
    }
}

/// An amount as people read it: "8 cores", "512 MB", "2 gpu".
pub(crate) fn show_amount(resource: &str, amount: f64) -> String {
    match resource {
        "mems" => format!("{amount} MB"),
        name => format!("{amount} {name}"),
    }
}
