//! Item output for Graph collections and listings: JSON, JSON lines, an aligned table for
//! people, and CSV (RFC 4180) for spreadsheets. Columns come from `--select` when given,
//! else from the keys of the first items, in the order they appear.

use std::io::Write;

use clap::ValueEnum;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// The response as JSON (with --all, one array of every item).
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Aligned columns for reading.
    Table,
    /// Comma-separated values with a header line.
    Csv,
}

/// A cell's text: strings as they are, null empty, anything else as compact JSON.
fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Columns: `select` if given, else every key of `items` in first-seen order, leaving out
/// OData annotations (`@odata.type`), which are about the item, not of it.
pub(crate) fn columns(select: Option<&str>, items: &[Value]) -> Vec<String> {
    if let Some(s) = select {
        return s
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if let Value::Object(o) = item {
            for k in o.keys() {
                if !k.contains('@') && !out.contains(k) {
                    out.push(k.clone());
                }
            }
        }
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Streams items as CSV: the header once, then rows as they come.
pub(crate) struct CsvWriter {
    columns: Option<Vec<String>>,
}

impl CsvWriter {
    pub(crate) fn new() -> Self {
        Self { columns: None }
    }

    pub(crate) fn write(
        &mut self,
        out: &mut impl Write,
        select: Option<&str>,
        items: &[Value],
    ) -> std::io::Result<()> {
        let columns = match &self.columns {
            Some(c) => c,
            None => {
                let c = columns(select, items);
                let header: Vec<String> = c.iter().map(|h| csv_field(h)).collect();
                out.write_all(header.join(",").as_bytes())?;
                out.write_all(b"\r\n")?;
                self.columns.insert(c)
            }
        };
        for item in items {
            let row: Vec<String> = columns
                .iter()
                .map(|c| csv_field(&cell(item.get(c))))
                .collect();
            out.write_all(row.join(",").as_bytes())?;
            out.write_all(b"\r\n")?;
        }
        Ok(())
    }
}

/// Longest cell shown in a table; longer ones end in `…`.
const MAX_CELL: usize = 60;

/// Writes `items` as an aligned table (all of them: widths need every row).
pub(crate) fn table(
    out: &mut impl Write,
    select: Option<&str>,
    items: &[Value],
) -> std::io::Result<()> {
    let columns = columns(select, items);
    if columns.is_empty() {
        return Ok(());
    }
    let clip = |s: String| -> String {
        let s = s.replace(['\n', '\r', '\t'], " ");
        if s.chars().count() > MAX_CELL {
            let mut t: String = s.chars().take(MAX_CELL - 1).collect();
            t.push('…');
            t
        } else {
            s
        }
    };
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| columns.iter().map(|c| clip(cell(i.get(c)))).collect())
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.extend(std::iter::repeat_n(' ', w - c.chars().count() + 2));
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(out, "{}", line(&columns))?;
    for row in &rows {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_quotes_and_keeps_columns() {
        let items = [
            json!({"@odata.type": "#x", "id": "1", "displayName": "Smith, Ann", "n": 3}),
            json!({"id": "2", "displayName": "say \"hi\"", "extra": true}),
        ];
        let mut w = CsvWriter::new();
        let mut out = Vec::new();
        w.write(&mut out, None, &items[..1]).expect("write");
        w.write(&mut out, None, &items[1..]).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "id,displayName,n\r\n1,\"Smith, Ann\",3\r\n2,\"say \"\"hi\"\"\",\r\n"
        );
    }

    #[test]
    fn table_aligns_and_clips() {
        let items = vec![
            json!({"id": "1", "displayName": "A"}),
            json!({"id": "22", "displayName": "x".repeat(80)}),
        ];
        let mut out = Vec::new();
        table(&mut out, Some("displayName, id"), &items).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!("displayName{}id", " ".repeat(MAX_CELL - 11 + 2))
        );
        assert!(lines[2].contains('…'));
        assert_eq!(lines[1].find('1'), lines[0].find("id"));
    }
}
