//! Images and documents on their way to the model, from the caller's `attachments` and from
//! downstream tool results. The agent's provider's limits ([`MediaLimits`]) are enforced
//! here, before any call, so an oversized or unsupported file is a clear message instead of
//! a rejected request half-way through a tool loop; a model without vision gets a short note
//! in place of the file.

use serde::Deserialize;
use serde_json::Value;

use crate::llm::MediaLimits;
use crate::llm::conversation::{ContentBlock, Document, DocumentFormat, Image, base64};
use crate::model::ModelCapabilities;

/// The largest MCP request the agent server accepts: every attachment at the largest
/// provider limit, base64 encoded, plus room for the message. rmcp's default of 4 MiB would
/// refuse a single full-size image with a bare 413.
pub const MAX_ATTACHMENTS_REQUEST_BYTES: usize =
    MediaLimits::largest_total_bytes() / 3 * 4 + (1 << 20);

const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// The document format for a MIME type, if models can be given it.
pub fn document_format(mime_type: &str) -> Option<DocumentFormat> {
    DocumentFormat::from_mime(&normalise_mime(mime_type))
}

fn normalise_mime(mime_type: &str) -> String {
    let base = mime_type.split(';').next().unwrap_or("").trim();
    match base.to_ascii_lowercase().as_str() {
        "image/jpg" => "image/jpeg".to_string(),
        other => other.to_string(),
    }
}

/// What the model can take: its capabilities, within its provider's limits.
#[derive(Debug, Clone, Copy)]
pub struct MediaSupport {
    pub images: bool,
    pub documents: bool,
    pub limits: MediaLimits,
}

impl MediaSupport {
    pub fn new(caps: &ModelCapabilities, limits: MediaLimits) -> Self {
        MediaSupport {
            images: caps.vision,
            documents: caps.documents,
            limits,
        }
    }
}

/// An image or document that passed the provider's checks, or the note that replaces it.
#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    Image(Image),
    Document(Document),
    /// The model cannot take this file; the note tells it what was left out.
    Note(String),
}

/// Checks one file against the provider's formats and limits. `Err` means the file itself is
/// unacceptable (wrong type, too large) whatever the model; `Ok(Media::Note)` means only
/// this model cannot take it.
pub fn classify(
    mime_type: &str,
    name: Option<&str>,
    data: Vec<u8>,
    support: MediaSupport,
) -> Result<Media, String> {
    let mime = normalise_mime(mime_type);
    let label = name.map_or_else(|| mime.clone(), |n| format!("{n} ({mime})"));
    let limits = support.limits;
    if IMAGE_TYPES.contains(&mime.as_str()) {
        if data.len() > limits.max_image_bytes {
            return Err(too_large(
                &label,
                data.len(),
                limits.max_image_bytes,
                "an image",
                limits,
            ));
        }
        if !support.images {
            return Ok(Media::Note(format!(
                "[image {label} omitted: this model does not accept images]"
            )));
        }
        return Ok(Media::Image(Image {
            mime_type: mime,
            data,
        }));
    }
    if let Some(format) = document_format(&mime) {
        if data.len() > limits.max_document_bytes {
            return Err(too_large(
                &label,
                data.len(),
                limits.max_document_bytes,
                "a document",
                limits,
            ));
        }
        if !support.documents {
            return Ok(Media::Note(format!(
                "[document {label} omitted: this model does not accept documents]"
            )));
        }
        return Ok(Media::Document(Document {
            format,
            name: document_name(name.unwrap_or("document"), format.as_str()),
            data,
        }));
    }
    Err(format!(
        "{label}: type {mime} is not accepted. Images: {}. Documents: {}",
        IMAGE_TYPES.join(", "),
        DocumentFormat::ALL
            .iter()
            .map(|(_, m)| *m)
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn too_large(label: &str, size: usize, limit: usize, kind: &str, limits: MediaLimits) -> String {
    format!(
        "{label} is {:.2} MB; {} accepts {kind} of at most {:.2} MB. Resize or split it",
        size as f64 / 1e6,
        limits.service,
        limit as f64 / 1e6
    )
}

/// Document names (Bedrock's rule, the strictest) allow only letters, digits, single spaces, hyphens, parentheses
/// and square brackets (the name is shown to the model, so it is also kept short). The
/// extension is dropped because the format already says it.
pub fn document_name(name: &str, format: &str) -> String {
    let stem = name
        .rsplit_once('.')
        .filter(|(_, ext)| ext.eq_ignore_ascii_case(format))
        .map_or(name, |(stem, _)| stem);
    let mut out = String::new();
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() || "-()[]".contains(c) {
            c
        } else if c.is_whitespace() {
            ' '
        } else {
            '-'
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
        if out.len() >= 100 {
            break;
        }
    }
    let out = out.trim_end().to_string();
    if out.is_empty() {
        "document".to_string()
    } else {
        out
    }
}

/// One entry of the agent tool's optional `attachments` argument.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Attachment {
    data: String,
    mime_type: String,
    #[serde(default)]
    name: Option<String>,
}

/// JSON schema of the `attachments` argument, kept next to the code that reads it.
pub fn attachments_schema(limits: MediaLimits) -> Value {
    serde_json::json!({
        "type": "array",
        "description": format!(
            "Optional files for the agent: images ({}; up to {:.2} MB each) and documents (pdf, csv, doc, docx, xls, xlsx, html, txt, md; up to {:.1} MB each), at most {} images and {} documents.",
            IMAGE_TYPES.join(", "),
            limits.max_image_bytes as f64 / 1e6,
            limits.max_document_bytes as f64 / 1e6,
            limits.max_images,
            limits.max_documents
        ),
        "items": {
            "type": "object",
            "properties": {
                "data": {"type": "string", "description": "The file's bytes, base64-encoded."},
                "mime_type": {"type": "string", "description": "e.g. image/png or application/pdf"},
                "name": {"type": "string", "description": "File name, shown to the model for documents."}
            },
            "required": ["data", "mime_type"]
        }
    })
}

/// Turns the caller's `attachments` into content blocks, or says exactly which entry is
/// wrong and why. Nothing is sent to the model when any entry is rejected.
pub fn attachment_blocks(
    value: Option<&Value>,
    support: MediaSupport,
) -> Result<Vec<ContentBlock>, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let entries: Vec<Attachment> = serde_json::from_value(value.clone()).map_err(|e| {
        format!("'attachments' must be a list of {{data, mime_type, name?}} objects: {e}")
    })?;
    let (mut images, mut documents) = (0, 0);
    let mut blocks = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let at = |msg: String| format!("attachments[{i}]: {msg}");
        let data =
            base64::decode(&entry.data).map_err(|e| at(format!("data is not base64: {e}")))?;
        if data.is_empty() {
            return Err(at("data is empty".to_string()));
        }
        let media = classify(&entry.mime_type, entry.name.as_deref(), data, support).map_err(at)?;
        blocks.push(match media {
            Media::Image(img) => {
                images += 1;
                ContentBlock::Image(img)
            }
            Media::Document(doc) => {
                documents += 1;
                ContentBlock::Document(doc)
            }
            Media::Note(note) => ContentBlock::Text(note),
        });
    }
    let limits = support.limits;
    if images > limits.max_images {
        return Err(format!(
            "{images} images attached; {} accepts at most {} per request",
            limits.service, limits.max_images
        ));
    }
    if documents > limits.max_documents {
        return Err(format!(
            "{documents} documents attached; {} accepts at most {} per request",
            limits.service, limits.max_documents
        ));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: MediaSupport = MediaSupport {
        images: true,
        documents: true,
        limits: MediaLimits::CONVERSE,
    };
    const NEITHER: MediaSupport = MediaSupport {
        images: false,
        documents: false,
        limits: MediaLimits::CONVERSE,
    };
    const MAX_IMAGE_BYTES: usize = MediaLimits::CONVERSE.max_image_bytes;
    const MAX_DOCUMENTS: usize = MediaLimits::CONVERSE.max_documents;

    #[test]
    fn images_and_documents_are_classified_by_mime_type() {
        let img = classify("image/jpg", None, vec![1, 2], BOTH).unwrap();
        assert!(matches!(img, Media::Image(ref i) if i.mime_type == "image/jpeg"));
        let doc = classify("application/pdf", Some("Q3 report.pdf"), vec![1], BOTH).unwrap();
        let Media::Document(doc) = doc else {
            panic!("{doc:?}")
        };
        assert_eq!(
            (doc.format.as_str(), doc.name.as_str()),
            ("pdf", "Q3 report")
        );
    }

    #[test]
    fn a_model_without_vision_gets_a_note() {
        let note = classify("image/png", Some("chart.png"), vec![1], NEITHER).unwrap();
        assert!(
            matches!(note, Media::Note(ref n) if n.contains("chart.png") && n.contains("does not accept images"))
        );
    }

    #[test]
    fn oversized_and_unknown_files_are_rejected_with_the_limit() {
        let err = classify("image/png", None, vec![0; MAX_IMAGE_BYTES + 1], BOTH).unwrap_err();
        assert!(err.contains("at most 3.75 MB"), "{err}");
        let err = classify("application/zip", Some("a.zip"), vec![1], BOTH).unwrap_err();
        assert!(
            err.contains("application/zip is not accepted") && err.contains("image/png"),
            "{err}"
        );
    }

    #[test]
    fn limits_are_the_providers() {
        let image = || vec![0; 4_000_000];
        let err = classify("image/png", None, image(), BOTH).unwrap_err();
        assert!(
            err.contains("Bedrock accepts an image of at most 3.75 MB"),
            "{err}"
        );
        let messages = MediaSupport {
            limits: MediaLimits::MESSAGES,
            ..BOTH
        };
        assert!(matches!(
            classify("image/png", None, image(), messages),
            Ok(Media::Image(_))
        ));
    }

    #[test]
    fn document_names_are_made_acceptable_to_bedrock() {
        assert_eq!(document_name("my  file_v2.pdf", "pdf"), "my file-v2");
        assert_eq!(document_name("notes.txt", "md"), "notes-txt");
        assert_eq!(document_name("///", "pdf"), "---");
        assert_eq!(document_name("", "pdf"), "document");
    }

    #[test]
    fn attachments_are_parsed_and_each_error_names_its_entry() {
        let ok = serde_json::json!([{"data": base64::encode(b"png"), "mime_type": "image/png"}]);
        let blocks = attachment_blocks(Some(&ok), BOTH).unwrap();
        assert!(matches!(&blocks[..], [ContentBlock::Image(i)] if i.data == b"png"));
        let bad = serde_json::json!([
            {"data": base64::encode(b"x"), "mime_type": "image/png"},
            {"data": "not base64!", "mime_type": "image/png"}
        ]);
        let err = attachment_blocks(Some(&bad), BOTH).unwrap_err();
        assert!(
            err.starts_with("attachments[1]: data is not base64"),
            "{err}"
        );
        let too_many = serde_json::Value::Array(
            (0..=MAX_DOCUMENTS)
                .map(|_| serde_json::json!({"data": base64::encode(b"x"), "mime_type": "text/plain"}))
                .collect(),
        );
        assert!(
            attachment_blocks(Some(&too_many), BOTH)
                .unwrap_err()
                .contains("at most 5")
        );
        assert!(attachment_blocks(None, BOTH).unwrap().is_empty());
    }
}
