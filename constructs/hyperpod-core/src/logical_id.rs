//! Logical ids: readable names derived from construct paths, valid for CloudFormation.

/// CloudFormation's limit on the length of a logical id.
pub const MAX_LENGTH: usize = 255;

/// Path segments that name a construct's main resource; they are left out of logical ids
/// so that wrapping a resource in a construct keeps the construct's id.
pub const HIDDEN_IDS: [&str; 2] = ["Resource", "Default"];

/// Derives the logical id of the element at `path` below its stack: each segment is split
/// into runs of letters and digits, each run starts with a capital, and the runs are
/// joined (`data-access/ml_research` → `DataAccessMlResearch`).
pub fn derive(path: &[String]) -> Result<String, String> {
    let mut id = String::new();
    for segment in path
        .iter()
        .filter(|segment| !HIDDEN_IDS.contains(&segment.as_str()))
    {
        for word in segment.split(|c: char| !c.is_ascii_alphanumeric()) {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                id.push(first.to_ascii_uppercase());
                id.extend(chars);
            }
        }
    }
    check(&id)?;
    Ok(id)
}

/// Checks a logical id against CloudFormation's rules: letters and digits, at most 255.
pub fn check(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty: it needs at least one letter or digit".to_owned());
    }
    if let Some(bad) = id.chars().find(|c| !c.is_ascii_alphanumeric()) {
        return Err(format!(
            "holds `{bad}`; CloudFormation allows only letters and digits"
        ));
    }
    if id.len() > MAX_LENGTH {
        return Err(format!(
            "has {} characters, more than CloudFormation's {MAX_LENGTH}",
            id.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_derive(path: &[&str]) -> Result<String, String> {
        derive(&path.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn segments_become_capitalised_words() {
        assert_eq!(
            check_derive(&["data-access", "ml_research", "role"]).unwrap(),
            "DataAccessMlResearchRole"
        );
    }

    #[test]
    fn main_resource_ids_are_left_out() {
        assert_eq!(check_derive(&["Bucket", "Resource"]).unwrap(), "Bucket");
        assert_eq!(check_derive(&["Default", "Policy"]).unwrap(), "Policy");
    }

    #[test]
    fn a_path_without_letters_or_digits_is_refused() {
        assert!(check_derive(&["--"]).unwrap_err().contains("empty"));
    }

    #[test]
    fn a_logical_id_over_255_characters_is_refused() {
        assert!(
            check_derive(&[&"a".repeat(256)])
                .unwrap_err()
                .contains("255")
        );
        assert!(check_derive(&[&"a".repeat(255)]).is_ok());
    }

    #[test]
    fn an_override_with_punctuation_is_refused() {
        assert!(check("My-Bucket").unwrap_err().contains("`-`"));
    }
}
