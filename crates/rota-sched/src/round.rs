//! The typed round state: what one plan computes once from the snapshot before it places
//! anything. Ids become dense indices (nodes, queues, apps, requests), amounts become integer
//! vectors, attribute values are interned, and the nodes get the plan's shuffled order.

use std::collections::HashMap;

use rota_model::placement::HOSTNAME;
use rota_model::{AppKey, NodeId};

use crate::resources::Dims;
use crate::shuffle::shuffle;
use crate::snapshot::{NodeState, Request, Snapshot};

/// No index: a node, an attribute value or a run that is not there.
pub(crate) const NONE: u32 = u32::MAX;

/// The round state of one plan (or one re-check).
pub(crate) struct Round<'s> {
    pub(crate) snapshot: &'s Snapshot,
    pub(crate) dims: Dims,
    pub(crate) nodes: Nodes<'s>,
    pub(crate) attrs: Attrs<'s>,
    pub(crate) queues: Queues<'s>,
    pub(crate) apps: Apps<'s>,
    /// Distinct requests (by pointer), queued runs' first.
    pub(crate) requests: Vec<&'s Request>,
    /// Per queued run: its request.
    pub(crate) queued_request: Vec<u32>,
    pub(crate) running: Running,
    /// Capacity of the nodes that are not down: the denominator of shares.
    pub(crate) total: Vec<i64>,
}

/// Node columns. A node's index is its position in the plan's order (by id, then shuffled
/// with the plan's seed): ties between equal scores go to the lower index, and scanning nodes
/// in that order walks these columns front to back.
pub(crate) struct Nodes<'s> {
    pub(crate) ids: Vec<&'s NodeId>,
    pub(crate) index: HashMap<&'s str, u32>,
    pub(crate) state: Vec<NodeState>,
    capacity: Vec<i64>,
    pub(crate) free: Vec<i64>,
    /// The largest capacity of any node, per resource.
    pub(crate) largest: Vec<i64>,
    d: usize,
}

impl Nodes<'_> {
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    #[inline]
    pub(crate) fn capacity(&self, node: u32) -> &[i64] {
        let at = node as usize * self.d;
        &self.capacity[at..at + self.d]
    }
}

/// Interned node attributes: one column per key, one id per distinct value.
pub(crate) struct Attrs<'s> {
    keys: HashMap<&'s str, u16>,
    pub(crate) columns: Vec<Column<'s>>,
}

/// One attribute key's values.
pub(crate) struct Column<'s> {
    pub(crate) values: Vec<&'s str>,
    by_value: HashMap<&'s str, u32>,
    /// Per node: the value's id, or [`NONE`].
    pub(crate) of_node: Vec<u32>,
}

impl<'s> Attrs<'s> {
    fn build(snapshot: &'s Snapshot, order: &[u32]) -> Self {
        let mut attrs = Attrs {
            keys: HashMap::new(),
            columns: Vec::new(),
        };
        let n = order.len();
        for (i, node) in order
            .iter()
            .map(|o| &snapshot.nodes[*o as usize])
            .enumerate()
        {
            for (key, value) in &node.attributes {
                attrs.set(key, value, i, n);
            }
            if !node.attributes.contains_key(HOSTNAME) {
                attrs.set(HOSTNAME, &node.id.0, i, n);
            }
        }
        attrs
    }

    fn set(&mut self, key: &'s str, value: &'s str, node: usize, nodes: usize) {
        let next = self.columns.len() as u16;
        let k = *self.keys.entry(key).or_insert(next);
        if k == next {
            self.columns.push(Column {
                values: Vec::new(),
                by_value: HashMap::new(),
                of_node: vec![NONE; nodes],
            });
        }
        let column = &mut self.columns[k as usize];
        let next = column.values.len() as u32;
        let v = *column.by_value.entry(value).or_insert(next);
        if v == next {
            column.values.push(value);
        }
        column.of_node[node] = v;
    }

    pub(crate) fn key(&self, key: &str) -> Option<u16> {
        self.keys.get(key).copied()
    }

    pub(crate) fn value_id(&self, attr: u16, node: u32) -> u32 {
        self.columns[attr as usize].of_node[node as usize]
    }

    pub(crate) fn value(&self, attr: u16, node: u32) -> Option<&'s str> {
        let column = &self.columns[attr as usize];
        column
            .values
            .get(column.of_node[node as usize] as usize)
            .copied()
    }
}

/// Queue columns, in name order.
pub(crate) struct Queues<'s> {
    pub(crate) names: Vec<&'s str>,
    pub(crate) weight: Vec<u32>,
    pub(crate) quota: Vec<Option<Vec<i64>>>,
    pub(crate) guaranteed: Vec<Option<Vec<i64>>>,
    pub(crate) preemption: Vec<bool>,
    /// What each queue's running runs use, flat (queue × resource).
    pub(crate) usage: Vec<i64>,
}

/// Apps, interned.
pub(crate) struct Apps<'s> {
    index: HashMap<&'s AppKey, u32>,
    pub(crate) keys: Vec<&'s AppKey>,
    pub(crate) queue: Vec<u32>,
}

impl Apps<'_> {
    pub(crate) fn get(&self, key: &AppKey) -> Option<u32> {
        self.index.get(key).copied()
    }
}

/// Running run columns, indexed like `Snapshot::running`.
pub(crate) struct Running {
    pub(crate) node: Vec<u32>,
    pub(crate) app: Vec<u32>,
    pub(crate) demand: Vec<i64>,
    /// Running runs per node: `on_node[starts[n]..starts[n + 1]]`.
    starts: Vec<u32>,
    on_node: Vec<u32>,
}

impl Running {
    pub(crate) fn on(&self, node: u32) -> &[u32] {
        let n = node as usize;
        &self.on_node[self.starts[n] as usize..self.starts[n + 1] as usize]
    }
}

impl<'s> Round<'s> {
    /// Computes the round state of `snapshot`, its nodes shuffled with `seed`.
    pub(crate) fn new(snapshot: &'s Snapshot, seed: u64) -> Self {
        let mut requests: Vec<&'s Request> = Vec::new();
        let mut by_pointer: HashMap<*const Request, u32> = HashMap::new();
        let mut intern = |request: &'s std::sync::Arc<Request>| -> u32 {
            let next = requests.len() as u32;
            let ix = *by_pointer
                .entry(std::sync::Arc::as_ptr(request))
                .or_insert(next);
            if ix == next {
                requests.push(request);
            }
            ix
        };
        let queued_request: Vec<u32> = snapshot.queued.iter().map(|r| intern(&r.request)).collect();
        let running_request: Vec<u32> = snapshot
            .running
            .iter()
            .map(|r| intern(&r.request))
            .collect();

        let dims = Dims::new(
            snapshot
                .nodes
                .iter()
                .flat_map(|n| n.capacity.extended.keys())
                .chain(requests.iter().flat_map(|r| r.demand.extended.keys()))
                .chain(
                    snapshot
                        .queues
                        .iter()
                        .flat_map(|q| q.quota.extended.keys().chain(q.guaranteed.extended.keys())),
                ),
        );
        let d = dims.len();

        let mut apps = Apps::build(&requests);
        let mut queues = Queues::build(snapshot, &dims, &mut apps);
        let order = plan_order(snapshot, seed);
        let nodes = Nodes::build(snapshot, &dims, &order);
        let attrs = Attrs::build(snapshot, &order);

        let mut running = Running {
            node: Vec::with_capacity(snapshot.running.len()),
            app: Vec::with_capacity(snapshot.running.len()),
            demand: Vec::with_capacity(snapshot.running.len() * d),
            starts: Vec::new(),
            on_node: Vec::new(),
        };
        for (run, request) in snapshot.running.iter().zip(&running_request) {
            let request = requests[*request as usize];
            let app = apps.get(&request.app).expect("interned above");
            running.node.push(
                nodes
                    .index
                    .get(run.node.0.as_str())
                    .copied()
                    .unwrap_or(NONE),
            );
            running.app.push(app);
            let at = running.demand.len();
            dims.push(&request.demand, &mut running.demand);
            let q = apps.queue[app as usize] as usize;
            for dim in 0..d {
                queues.usage[q * d + dim] += running.demand[at + dim];
            }
        }
        running.index_by_node(nodes.len());

        let mut total = vec![0; d];
        for n in 0..nodes.len() as u32 {
            if nodes.state[n as usize] != NodeState::Down {
                for (t, c) in total.iter_mut().zip(nodes.capacity(n)) {
                    *t += c;
                }
            }
        }
        Round {
            snapshot,
            dims,
            nodes,
            attrs,
            queues,
            apps,
            requests,
            queued_request,
            running,
            total,
        }
    }

    /// Queue `q`'s weighted dominant share of the cluster when it uses `usage`.
    pub(crate) fn share(&self, q: u32, usage: &[i64]) -> f64 {
        let dominant = usage
            .iter()
            .zip(&self.total)
            .filter(|(_, t)| **t > 0)
            .map(|(u, t)| *u as f64 / *t as f64)
            .fold(0.0, f64::max);
        dominant / f64::from(self.queues.weight[q as usize])
    }

    /// Whether a queue using `usage` is below its guaranteed minimum in some resource.
    pub(crate) fn below_guarantee(&self, q: u32, usage: &[i64]) -> bool {
        match &self.queues.guaranteed[q as usize] {
            Some(min) => min.iter().zip(usage).any(|(g, u)| *g > 0 && u < g),
            None => false,
        }
    }
}

impl<'s> Apps<'s> {
    fn build(requests: &[&'s Request]) -> Self {
        let mut apps = Apps {
            index: HashMap::new(),
            keys: Vec::new(),
            queue: Vec::new(),
        };
        for request in requests {
            let next = apps.keys.len() as u32;
            if *apps.index.entry(&request.app).or_insert(next) == next {
                apps.keys.push(&request.app);
            }
        }
        apps
    }
}

impl<'s> Queues<'s> {
    fn build(snapshot: &'s Snapshot, dims: &Dims, apps: &mut Apps<'s>) -> Self {
        let mut names: Vec<&'s str> = snapshot
            .queues
            .iter()
            .map(|q| q.name.as_str())
            .chain(apps.keys.iter().map(|k| k.queue.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        let index: HashMap<&str, u32> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, i as u32))
            .collect();
        apps.queue = apps.keys.iter().map(|k| index[k.queue.as_str()]).collect();
        let n = names.len();
        let mut queues = Queues {
            names,
            weight: vec![1; n],
            quota: vec![None; n],
            guaranteed: vec![None; n],
            preemption: vec![false; n],
            usage: vec![0; n * dims.len()],
        };
        let mut seen = vec![false; n];
        for settings in &snapshot.queues {
            let q = index[settings.name.as_str()] as usize;
            if std::mem::replace(&mut seen[q], true) {
                continue;
            }
            queues.weight[q] = settings.weight.max(1);
            queues.quota[q] = dims.limits(&settings.quota, i64::MAX);
            queues.guaranteed[q] = dims.limits(&settings.guaranteed, 0);
            queues.preemption[q] = settings.preemption;
        }
        queues
    }
}

/// Snapshot node indices in the plan's order: by id, then shuffled with the plan's seed, so
/// that the order depends on the seed and the ids only, not on how the snapshot lists them.
fn plan_order(snapshot: &Snapshot, seed: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..snapshot.nodes.len() as u32).collect();
    order.sort_unstable_by(|a, b| {
        snapshot.nodes[*a as usize]
            .id
            .cmp(&snapshot.nodes[*b as usize].id)
    });
    shuffle(&mut order, seed);
    order
}

impl<'s> Nodes<'s> {
    fn build(snapshot: &'s Snapshot, dims: &Dims, order: &[u32]) -> Self {
        let d = dims.len();
        let n = order.len();
        let mut nodes = Nodes {
            ids: Vec::with_capacity(n),
            index: HashMap::with_capacity(n),
            state: Vec::with_capacity(n),
            capacity: Vec::with_capacity(n * d),
            free: Vec::with_capacity(n * d),
            largest: vec![0; d],
            d,
        };
        for (i, node) in order
            .iter()
            .map(|o| &snapshot.nodes[*o as usize])
            .enumerate()
        {
            nodes.ids.push(&node.id);
            nodes.index.entry(node.id.0.as_str()).or_insert(i as u32);
            nodes.state.push(node.state);
            dims.push(&node.capacity, &mut nodes.capacity);
            dims.push(&node.free, &mut nodes.free);
        }
        for capacity in nodes.capacity.chunks(d.max(1)) {
            for (l, c) in nodes.largest.iter_mut().zip(capacity) {
                *l = (*l).max(*c);
            }
        }
        nodes
    }
}

impl Running {
    fn index_by_node(&mut self, nodes: usize) {
        let mut counts = vec![0u32; nodes + 1];
        for node in &self.node {
            if *node != NONE {
                counts[*node as usize + 1] += 1;
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let mut next = counts.clone();
        self.on_node = vec![0; counts[nodes] as usize];
        for (run, node) in self.node.iter().enumerate() {
            if *node != NONE {
                let at = &mut next[*node as usize];
                self.on_node[*at as usize] = run as u32;
                *at += 1;
            }
        }
        self.starts = counts;
    }
}
