//! Column alignment of tab-separated cells, as Go's text/tabwriter does it for skopeo's
//! report writer (minimum cell width 8, padding 2, spaces).
//!
//! A cell is text ended by a tab; the text after a line's last tab is not a cell and is
//! not padded. A column's width is set per block of consecutive lines that have a cell in
//! that column, so an empty line starts a new table.

const MIN_WIDTH: usize = 8;
const PADDING: usize = 2;

/// Aligns the tab-separated cells of `text` into columns.
pub fn align(text: &str) -> String {
    if !text.contains('\t') {
        return text.to_string();
    }
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<Vec<usize>> = lines.iter().map(|cells| vec![0; cells.len()]).collect();
    set_widths(&lines, &mut widths, 0, lines.len(), 0);
    let mut out = String::with_capacity(text.len());
    for (i, cells) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for (j, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if j + 1 < cells.len() {
                let pad = widths[i][j].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
    }
    out
}

/// Sets the width of `column` for each block of lines in `from..to` that have a cell there
/// (a cell is any part but the last), then the next column within each block.
fn set_widths(
    lines: &[Vec<&str>],
    widths: &mut [Vec<usize>],
    from: usize,
    to: usize,
    column: usize,
) {
    let has_cell = |i: usize| lines[i].len() > column + 1;
    let mut i = from;
    while i < to {
        if !has_cell(i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < to && has_cell(i) {
            i += 1;
        }
        let width = (start..i)
            .map(|l| lines[l][column].chars().count() + PADDING)
            .max()
            .unwrap_or(0)
            .max(MIN_WIDTH);
        for w in &mut widths[start..i] {
            w[column] = width;
        }
        set_widths(lines, widths, start, i, column + 1);
    }
}
