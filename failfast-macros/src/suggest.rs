//! "Did you mean": the one measure of how close a word is to the words failfast knows, for
//! the keys (`args.rs`) and for the values picked from a few names (`value.rs`).

/// The candidate closest to `written`, if it is at most `max_edits(candidate)` edits away.
pub(crate) fn closest(
    written: &str,
    candidates: &[&'static str],
    max_edits: impl Fn(&str) -> usize,
) -> Option<&'static str> {
    candidates
        .iter()
        .map(|candidate| (edit_distance(written, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= max_edits(candidate))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_within_the_edits_allowed() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest("opne", &["open", "failure"], |_| 2), Some("open"));
        assert_eq!(closest("opne", &["open", "failure"], |_| 1), None);
    }
}
