//! Percentiles of a sample.

use serde::Serialize;

/// The distribution of a sample, in its unit (milliseconds for latencies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// How many values.
    pub count: usize,
    /// Smallest.
    pub min: f64,
    /// Median (nearest rank).
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Summary {
    /// The summary of `values`; all zero when there are none.
    pub fn of(values: &[f64]) -> Summary {
        if values.is_empty() {
            return Summary::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Summary {
            count: sorted.len(),
            min: sorted[0],
            p50: rank(&sorted, 0.50),
            p90: rank(&sorted, 0.90),
            p99: rank(&sorted, 0.99),
            max: sorted[sorted.len() - 1],
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
        }
    }

    /// `p50 / p99 / max` with the unit, for a line of output.
    pub fn brief(&self, unit: &str) -> String {
        format!(
            "p50 {} / p99 {} / max {} {unit} (n = {})",
            number(self.p50),
            number(self.p99),
            number(self.max),
            self.count
        )
    }
}

/// The nearest-rank percentile `q` (0..=1) of a sorted, non-empty sample.
fn rank(sorted: &[f64], q: f64) -> f64 {
    let index = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

/// A figure for people: three significant digits, thousands separated.
pub fn number(value: f64) -> String {
    let magnitude = value.abs();
    let text = if magnitude >= 100.0 || value == value.trunc() {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    };
    group_thousands(&text)
}

fn group_thousands(text: &str) -> String {
    let (sign, rest) = text.strip_prefix('-').map_or(("", text), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(frac) => format!("{sign}{grouped}.{frac}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Summary::of(&values);
        assert_eq!((s.p50, s.p90, s.p99, s.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(Summary::of(&[7.0]).p99, 7.0);
        assert_eq!(Summary::of(&[]).count, 0);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(2000.0), "2,000");
        assert_eq!(number(1234567.4), "1,234,567");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(0.1234), "0.123");
        assert_eq!(number(-1500.0), "-1,500");
    }
}
