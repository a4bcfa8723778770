//! Converse's rules for image and document blocks (formats, sizes, document names, counts),
//! checked the way Bedrock checks them so clients learn about a bad file here first.

use serde_json::Value;

use super::errors::ApiError;

const IMAGE_FORMATS: [&str; 4] = ["png", "jpeg", "gif", "webp"];
const DOCUMENT_FORMATS: [&str; 9] = [
    "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md",
];
const MAX_IMAGE_BYTES: usize = 3_750_000;
const MAX_DOCUMENT_BYTES: usize = 4_500_000;
const MAX_IMAGES: usize = 20;
const MAX_DOCUMENTS: usize = 5;

/// Images and documents seen so far in one request.
#[derive(Debug, Default)]
pub(crate) struct MediaCount {
    images: usize,
    documents: usize,
}

fn invalid(message: String) -> Result<(), ApiError> {
    Err(ApiError::validation(message))
}

/// The decoded size of a `source.bytes` base64 string.
fn decoded_len(inner: &Value, at: &str) -> Result<usize, ApiError> {
    let Some(bytes) = inner.pointer("/source/bytes").and_then(Value::as_str) else {
        return Err(ApiError::validation(format!(
            "The source of the block at {at} must contain bytes."
        )));
    };
    let data = bytes.trim_end_matches('=');
    if data.is_empty() {
        return Err(ApiError::validation(format!(
            "The source bytes of the block at {at} are empty."
        )));
    }
    Ok(data.len() * 3 / 4)
}

/// Checks an `image` or `document` member at `at`; other members pass untouched.
pub(crate) fn check(
    member: &str,
    inner: &Value,
    at: &str,
    count: &mut MediaCount,
) -> Result<(), ApiError> {
    match member {
        "image" => {
            let format = inner.get("format").and_then(Value::as_str).unwrap_or("");
            if !IMAGE_FORMATS.contains(&format) {
                return invalid(format!(
                    "1 validation error detected: Value '{format}' at '{at}.image.format' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    IMAGE_FORMATS.join(", ")
                ));
            }
            let size = decoded_len(inner, &format!("{at}.image"))?;
            if size > MAX_IMAGE_BYTES {
                return invalid(format!(
                    "The image at {at} is {size} bytes, which exceeds the maximum of {MAX_IMAGE_BYTES} bytes."
                ));
            }
            count.images += 1;
            if count.images > MAX_IMAGES {
                return invalid(format!(
                    "Too many images in the request: the maximum is {MAX_IMAGES}."
                ));
            }
        }
        "document" => {
            let format = inner.get("format").and_then(Value::as_str).unwrap_or("");
            if !DOCUMENT_FORMATS.contains(&format) {
                return invalid(format!(
                    "1 validation error detected: Value '{format}' at '{at}.document.format' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    DOCUMENT_FORMATS.join(", ")
                ));
            }
            let name = inner.get("name").and_then(Value::as_str).unwrap_or("");
            if !valid_document_name(name) {
                return invalid(
                    "The document file name can only contain alphanumeric characters, whitespace characters, hyphens, parentheses, and square brackets. The name can't contain more than one consecutive whitespace character.".to_string(),
                );
            }
            let size = decoded_len(inner, &format!("{at}.document"))?;
            if size > MAX_DOCUMENT_BYTES {
                return invalid(format!(
                    "The document at {at} is {size} bytes, which exceeds the maximum of {MAX_DOCUMENT_BYTES} bytes."
                ));
            }
            count.documents += 1;
            if count.documents > MAX_DOCUMENTS {
                return invalid(format!(
                    "Too many documents in the request: the maximum is {MAX_DOCUMENTS}."
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn valid_document_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains("  ")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || "-()[]".contains(c))
}

/// A short description of an image or document item, for the scripted model's replies.
pub(crate) fn describe(item: &Value) -> Option<String> {
    if let Some(image) = item.get("image") {
        let format = image.get("format").and_then(Value::as_str).unwrap_or("?");
        let size = decoded_len(image, "").unwrap_or(0);
        return Some(format!("[image {format}, {size} bytes]"));
    }
    let doc = item.get("document")?;
    Some(format!(
        "[document {} ({}), {} bytes]",
        doc.get("name").and_then(Value::as_str).unwrap_or(""),
        doc.get("format").and_then(Value::as_str).unwrap_or("?"),
        decoded_len(doc, "").unwrap_or(0)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(format: &str, bytes: &str) -> Value {
        json!({"format": format, "source": {"bytes": bytes}})
    }

    #[test]
    fn formats_sizes_names_and_counts_are_enforced() {
        let mut count = MediaCount::default();
        assert!(check("image", &image("png", "AAAA"), "m.0", &mut count).is_ok());
        let err = check("image", &image("bmp", "AAAA"), "m.0", &mut count).unwrap_err();
        assert!(
            err.message.contains("enum value set: [png"),
            "{}",
            err.message
        );
        let big = "A".repeat(MAX_IMAGE_BYTES / 3 * 4 + 8);
        let err = check("image", &image("png", &big), "m.1", &mut count).unwrap_err();
        assert!(
            err.message.contains("exceeds the maximum"),
            "{}",
            err.message
        );
        let doc = json!({"format": "pdf", "name": "report.pdf", "source": {"bytes": "AAAA"}});
        let err = check("document", &doc, "m.2", &mut count).unwrap_err();
        assert!(err.message.contains("file name can only contain"));
        let doc = json!({"format": "pdf", "name": "report (v2)", "source": {"bytes": "AAAA"}});
        for _ in 0..MAX_DOCUMENTS {
            check("document", &doc, "m.3", &mut count).unwrap();
        }
        let err = check("document", &doc, "m.3", &mut count).unwrap_err();
        assert!(err.message.contains("Too many documents"));
    }

    #[test]
    fn describe_reports_decoded_sizes() {
        let item = json!({"image": image("png", "AAAAAA==")});
        assert_eq!(describe(&item).unwrap(), "[image png, 4 bytes]");
        assert!(describe(&json!({"text": "x"})).is_none());
    }
}
