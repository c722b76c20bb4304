//! Reads the tables of a `mysqldump` file: each `CREATE TABLE` gives a table's columns, each
//! `INSERT INTO` its rows (with or without a column list). Enough of MySQL's syntax for the
//! dumps mysqldump writes; not a general SQL parser.

use std::collections::BTreeMap;

/// A value in a row.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// `NULL`.
    Null,
    /// A number, as written.
    Number(String),
    /// A string, unescaped.
    Text(String),
}

impl SqlValue {
    /// The value as text (`None` for NULL).
    pub fn text(&self) -> Option<&str> {
        match self {
            SqlValue::Null => None,
            SqlValue::Number(n) => Some(n),
            SqlValue::Text(t) => Some(t),
        }
    }
}

/// A table: its columns and rows, each row a map from column to value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Column names in table order.
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Vec<BTreeMap<String, SqlValue>>,
}

/// A dump that cannot be read, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpError(pub String);

impl std::fmt::Display for DumpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DumpError {}

/// Reads every table of a dump, by name (lower case).
pub fn read_dump(text: &str) -> Result<BTreeMap<String, Table>, DumpError> {
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut rest = text;
    while let Some(start) = next_statement(rest) {
        rest = &rest[start..];
        if starts_with_ci(rest, "CREATE TABLE") {
            let end = rest
                .find(";\n")
                .or_else(|| rest.find(';'))
                .unwrap_or(rest.len());
            let statement = &rest[..end];
            let (name, columns) = create_table(statement)?;
            tables.entry(name).or_default().columns = columns;
            rest = &rest[end.min(rest.len())..];
        } else if starts_with_ci(rest, "INSERT INTO") {
            let (name, columns, rows, used) = insert(rest)?;
            let table = tables.entry(name.clone()).or_default();
            let columns = match columns {
                Some(columns) => columns,
                None if !table.columns.is_empty() => table.columns.clone(),
                None => {
                    return Err(DumpError(format!(
                        "INSERT INTO `{name}` has no column list and no CREATE TABLE before it"
                    )));
                }
            };
            for values in rows {
                if values.len() != columns.len() {
                    return Err(DumpError(format!(
                        "a row of `{name}` has {} values for {} columns",
                        values.len(),
                        columns.len()
                    )));
                }
                table
                    .rows
                    .push(columns.iter().cloned().zip(values).collect());
            }
            rest = &rest[used..];
        } else {
            rest = &rest[rest.find('\n').map_or(rest.len(), |i| i + 1)..];
        }
    }
    Ok(tables)
}

/// The offset of the next line that starts a statement we read.
fn next_statement(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if starts_with_ci(trimmed, "CREATE TABLE") || starts_with_ci(trimmed, "INSERT INTO") {
            return Some(offset + (line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    None
}

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn identifier(text: &str) -> Option<(String, &str)> {
    let text = text.trim_start();
    if let Some(rest) = text.strip_prefix('`') {
        let end = rest.find('`')?;
        return Some((rest[..end].to_ascii_lowercase(), &rest[end + 1..]));
    }
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| (text[..end].to_ascii_lowercase(), &text[end..]))
}

fn create_table(statement: &str) -> Result<(String, Vec<String>), DumpError> {
    let after = &statement["CREATE TABLE".len()..];
    let after = after.trim_start();
    let after = if starts_with_ci(after, "IF NOT EXISTS") {
        &after["IF NOT EXISTS".len()..]
    } else {
        after
    };
    let (name, body) = identifier(after).ok_or_else(|| {
        DumpError(format!(
            "cannot read the table name in: {}",
            first_line(statement)
        ))
    })?;
    let columns = body
        .lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('`'))
        .filter_map(|line| identifier(line).map(|(column, _)| column))
        .collect();
    Ok((name, columns))
}

type Insert = (String, Option<Vec<String>>, Vec<Vec<SqlValue>>, usize);

fn insert(text: &str) -> Result<Insert, DumpError> {
    let after = &text["INSERT INTO".len()..];
    let (name, mut rest) = identifier(after).ok_or_else(|| {
        DumpError(format!(
            "cannot read the table name in: {}",
            first_line(text)
        ))
    })?;
    rest = rest.trim_start();
    let mut columns = None;
    if let Some(list) = rest.strip_prefix('(') {
        let end = list
            .find(')')
            .ok_or_else(|| DumpError(format!("unclosed column list for `{name}`")))?;
        columns = Some(
            list[..end]
                .split(',')
                .filter_map(|c| identifier(c).map(|(c, _)| c))
                .collect(),
        );
        rest = list[end + 1..].trim_start();
    }
    rest = rest
        .get(..6)
        .filter(|v| v.eq_ignore_ascii_case("VALUES"))
        .map(|_| &rest[6..])
        .ok_or_else(|| DumpError(format!("expected VALUES after INSERT INTO `{name}`")))?;
    let mut rows = Vec::new();
    let mut chars = rest.char_indices().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|(_, c)| c.is_whitespace() || *c == ',')
        {
            chars.next();
        }
        match chars.next() {
            Some((_, '(')) => rows.push(row(&mut chars, &name)?),
            Some((i, ';')) => {
                let used = text.len() - rest.len() + i + 1;
                return Ok((name, columns, rows, used));
            }
            Some((_, c)) => {
                return Err(DumpError(format!(
                    "unexpected `{c}` in the rows of `{name}`"
                )));
            }
            None => {
                return Err(DumpError(format!(
                    "the rows of `{name}` do not end with `;`"
                )));
            }
        }
    }
}

fn row(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    table: &str,
) -> Result<Vec<SqlValue>, DumpError> {
    let mut values = Vec::new();
    loop {
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        let value = match chars.peek().map(|(_, c)| *c) {
            Some('\'') => {
                chars.next();
                SqlValue::Text(string(chars, table)?)
            }
            Some(_) => {
                let mut word = String::new();
                while let Some((_, c)) = chars.peek().copied() {
                    if c == ',' || c == ')' || c.is_whitespace() {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                if word.eq_ignore_ascii_case("NULL") {
                    SqlValue::Null
                } else if word.is_empty() {
                    return Err(DumpError(format!("an empty value in a row of `{table}`")));
                } else {
                    SqlValue::Number(word)
                }
            }
            None => return Err(DumpError(format!("a row of `{table}` is cut short"))),
        };
        values.push(value);
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            Some((_, ',')) => continue,
            Some((_, ')')) => return Ok(values),
            _ => return Err(DumpError(format!("a row of `{table}` is not closed"))),
        }
    }
}

/// A quoted string after its opening quote, with MySQL's escapes.
fn string(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    table: &str,
) -> Result<String, DumpError> {
    let mut out = String::new();
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('0') => out.push('\0'),
                Some('Z') => out.push('\x1a'),
                Some(other) => out.push(other),
                None => break,
            },
            '\'' if chars.peek().map(|(_, c)| *c) == Some('\'') => {
                chars.next();
                out.push('\'');
            }
            '\'' => return Ok(out),
            c => out.push(c),
        }
    }
    Err(DumpError(format!(
        "an unclosed string in a row of `{table}`"
    )))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = r#"-- MySQL dump 10.13
DROP TABLE IF EXISTS `records`;
CREATE TABLE `records` (
  `name` varchar(100) NOT NULL,
  `queue` varchar(100) NOT NULL,
  `host` varchar(100) DEFAULT NULL,
  `scheduletime` datetime NOT NULL,
  `state` int(11) NOT NULL,
  UNIQUE KEY `u` (`name`,`queue`,`scheduletime`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
LOCK TABLES `records` WRITE;
INSERT INTO `records` VALUES ('a','q','10.0.0.1','2019-04-02 16:45:00',3),('it''s','q',NULL,'2019-04-02 17:45:00',4);
INSERT INTO `other` (`x`, `y`) VALUES ('semi;colon','back\\slash\nnewline');
UNLOCK TABLES;
"#;

    #[test]
    fn a_mysqldump_is_read_with_its_columns_rows_and_escapes() {
        let tables = read_dump(DUMP).unwrap();
        let records = &tables["records"];
        assert_eq!(
            records.columns,
            ["name", "queue", "host", "scheduletime", "state"]
        );
        assert_eq!(records.rows.len(), 2);
        assert_eq!(records.rows[0]["state"], SqlValue::Number("3".into()));
        assert_eq!(records.rows[1]["name"], SqlValue::Text("it's".into()));
        assert_eq!(records.rows[1]["host"], SqlValue::Null);
        let other = &tables["other"];
        assert_eq!(other.rows[0]["x"].text(), Some("semi;colon"));
        assert_eq!(other.rows[0]["y"].text(), Some("back\\slash\nnewline"));
    }

    #[test]
    fn a_row_with_the_wrong_number_of_values_is_refused() {
        let dump = "CREATE TABLE `t` (\n  `a` int,\n  `b` int\n);\nINSERT INTO `t` VALUES (1);\n";
        let err = read_dump(dump).unwrap_err();
        assert!(err.0.contains("1 values for 2 columns"), "{}", err.0);
    }
}
