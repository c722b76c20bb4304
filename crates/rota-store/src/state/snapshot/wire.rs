//! The bytes of a snapshot: little-endian integers, length-prefixed bytes, and a table of
//! distinct strings that records point into (app names, queues, nodes and reasons repeat
//! across millions of runs).

use std::collections::HashMap;

use jiff::Timestamp;

use super::SnapshotError;

/// Builds a snapshot's bytes.
#[derive(Default)]
pub(super) struct Writer {
    pub(super) bytes: Vec<u8>,
}

impl Writer {
    pub(super) fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }

    pub(super) fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    pub(super) fn i32(&mut self, v: i32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    pub(super) fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    pub(super) fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.bytes.extend_from_slice(v);
    }

    pub(super) fn time(&mut self, t: Timestamp) {
        self.bytes.extend_from_slice(&t.as_second().to_le_bytes());
        self.i32(t.subsec_nanosecond());
    }

    pub(super) fn opt_time(&mut self, t: Option<Timestamp>) {
        self.opt(t, Writer::time);
    }

    pub(super) fn opt_u64(&mut self, v: Option<u64>) {
        self.opt(v, Writer::u64);
    }

    pub(super) fn opt_i32(&mut self, v: Option<i32>) {
        self.opt(v, Writer::i32);
    }

    /// A presence byte, then the value when present.
    pub(super) fn opt<T>(&mut self, v: Option<T>, write: impl FnOnce(&mut Writer, T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                write(self, v);
            }
        }
    }
}

/// Gives each distinct string an index, in the order first seen.
#[derive(Default)]
pub(super) struct Strings<'a> {
    index: HashMap<&'a str, u32>,
    pub(super) table: Vec<&'a str>,
}

impl<'a> Strings<'a> {
    pub(super) fn id(&mut self, s: &'a str) -> u32 {
        *self.index.entry(s).or_insert_with(|| {
            self.table.push(s);
            (self.table.len() - 1) as u32
        })
    }

    pub(super) fn opt_id(&mut self, s: Option<&'a str>) -> u32 {
        s.map_or(0, |s| self.id(s) + 1)
    }
}

/// Reads a snapshot's bytes; every read checks the length left.
pub(super) struct Reader<'b> {
    bytes: &'b [u8],
    strings: Vec<String>,
}

impl<'b> Reader<'b> {
    pub(super) fn new(bytes: &'b [u8]) -> Self {
        Reader {
            bytes,
            strings: Vec::new(),
        }
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'b [u8], SnapshotError> {
        if self.bytes.len() < n {
            return Err(SnapshotError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    pub(super) fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }

    pub(super) fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(super) fn i32(&mut self) -> Result<i32, SnapshotError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    pub(super) fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(super) fn bytes(&mut self) -> Result<&'b [u8], SnapshotError> {
        let len = usize::try_from(self.u64()?).map_err(|_| SnapshotError::Truncated)?;
        self.take(len)
    }

    pub(super) fn time(&mut self) -> Result<Timestamp, SnapshotError> {
        let seconds = i64::from_le_bytes(self.array()?);
        let nanos = self.i32()?;
        Timestamp::new(seconds, nanos).map_err(|e| SnapshotError::Invalid(e.to_string()))
    }

    pub(super) fn opt_time(&mut self) -> Result<Option<Timestamp>, SnapshotError> {
        self.opt(Reader::time)
    }

    pub(super) fn opt_u64(&mut self) -> Result<Option<u64>, SnapshotError> {
        self.opt(Reader::u64)
    }

    pub(super) fn opt_i32(&mut self) -> Result<Option<i32>, SnapshotError> {
        self.opt(Reader::i32)
    }

    pub(super) fn opt<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, SnapshotError>,
    ) -> Result<Option<T>, SnapshotError> {
        match self.u8()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            tag => Err(SnapshotError::Invalid(format!("presence byte {tag}"))),
        }
    }

    /// Reads the string table that the records point into, from its own bytes.
    pub(super) fn string_table(&mut self, table: &[u8]) -> Result<(), SnapshotError> {
        let mut r = Reader::new(table);
        let count = r.u32()? as usize;
        let mut strings = Vec::with_capacity(count.min(table.len()));
        for _ in 0..count {
            let bytes = r.bytes()?;
            let s =
                std::str::from_utf8(bytes).map_err(|e| SnapshotError::Invalid(e.to_string()))?;
            strings.push(s.to_owned());
        }
        if !r.is_empty() {
            return Err(SnapshotError::Invalid("bytes after the strings".into()));
        }
        self.strings = strings;
        Ok(())
    }

    /// Three lengths, as the end of a snapshot gives them.
    pub(super) fn lengths(&mut self) -> Result<[usize; 3], SnapshotError> {
        let mut lengths = [0; 3];
        for length in &mut lengths {
            *length = usize::try_from(self.u64()?).map_err(|_| SnapshotError::Truncated)?;
        }
        Ok(lengths)
    }

    /// The id of a string of the table.
    pub(super) fn string_id(&mut self) -> Result<u32, SnapshotError> {
        let id = self.u32()?;
        if id as usize >= self.strings.len() {
            return Err(SnapshotError::Invalid(format!(
                "string {id} is not in the table"
            )));
        }
        Ok(id)
    }

    /// A string of the table, by an id [`Reader::string_id`] read.
    pub(super) fn table_string(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }

    /// A string of the table.
    pub(super) fn string(&mut self) -> Result<String, SnapshotError> {
        let id = self.string_id()?;
        Ok(self.table_string(id).to_owned())
    }

    /// The place of each string of the table in the order of strings.
    pub(super) fn string_ranks(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.strings.len() as u32).collect();
        order.sort_unstable_by_key(|&id| self.table_string(id));
        let mut rank = vec![0; order.len()];
        for (place, id) in order.into_iter().enumerate() {
            rank[id as usize] = place as u32;
        }
        rank
    }

    /// An optional string of the table (0 for none).
    pub(super) fn opt_string(&mut self) -> Result<Option<String>, SnapshotError> {
        match self.u32()? {
            0 => Ok(None),
            id => self
                .strings
                .get(id as usize - 1)
                .cloned()
                .map(Some)
                .ok_or_else(|| SnapshotError::Invalid(format!("string {id} is not in the table"))),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}
