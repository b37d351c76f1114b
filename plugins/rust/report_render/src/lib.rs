//! `report_render`: the CSV-to-HTML step of the report pipeline: `{"csv", "title"}` ->
//! `{"html", "rows"}`, every cell HTML-escaped. A row with the wrong number of cells raises
//! `MalformedCsv`.

use wasmstep_sdk::{Context, TaskError, Value, json};

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn render(input: Value, _ctx: &Context) -> Result<Value, TaskError> {
    let csv = input["csv"]
        .as_str()
        .ok_or_else(|| TaskError::new("InvalidInput", "'csv' must be a string"))?;
    let title = input["title"].as_str().unwrap_or("Report");
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().map(|h| h.split(',').collect()).unwrap_or_default();
    let mut html = format!("<h1>{}</h1><table><tr>", escape(title));
    for h in &header {
        html.push_str(&format!("<th>{}</th>", escape(h)));
    }
    html.push_str("</tr>");
    let mut rows = 0;
    for (n, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != header.len() {
            return Err(TaskError::new(
                "MalformedCsv",
                format!(
                    "row {} has {} cells, the header has {}",
                    n + 1,
                    cells.len(),
                    header.len()
                ),
            ));
        }
        html.push_str("<tr>");
        for c in cells {
            html.push_str(&format!("<td>{}</td>", escape(c)));
        }
        html.push_str("</tr>");
        rows += 1;
    }
    html.push_str("</table>");
    Ok(json!({"html": html, "rows": rows}))
}

wasmstep_sdk::handler!(render);
