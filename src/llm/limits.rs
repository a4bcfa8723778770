//! How large and how many attachments a provider accepts in one request. The agent checks
//! files against its own provider's limits before any call, so an oversized file is a clear
//! message instead of a rejected request half-way through a tool loop.

/// Attachment limits of one provider API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLimits {
    /// The service, as messages name it.
    pub service: &'static str,
    pub max_image_bytes: usize,
    pub max_document_bytes: usize,
    pub max_images: usize,
    pub max_documents: usize,
}

impl MediaLimits {
    /// Bedrock Converse: 3.75 MB per image, 4.5 MB per document, 20 images, 5 documents.
    pub const CONVERSE: MediaLimits = MediaLimits {
        service: "Bedrock",
        max_image_bytes: 3_750_000,
        max_document_bytes: 4_500_000,
        max_images: 20,
        max_documents: 5,
    };

    /// The Anthropic Messages API (direct or Mantle): 5 MB per image; PDFs up to the
    /// 32 MB request limit, of which Pallas allows a document a quarter.
    pub const MESSAGES: MediaLimits = MediaLimits {
        service: "the Anthropic API",
        max_image_bytes: 5_000_000,
        max_document_bytes: 8_000_000,
        max_images: 20,
        max_documents: 5,
    };

    /// Chat Completions (OpenAI and compatible servers): images as data URLs; documents
    /// are inlined as text, so they are held to Converse's size.
    pub const CHAT_COMPLETIONS: MediaLimits = MediaLimits {
        service: "Chat Completions",
        max_image_bytes: 20_000_000,
        max_document_bytes: 4_500_000,
        max_images: 10,
        max_documents: 5,
    };

    /// The bytes of a request carrying every attachment at its limit.
    pub const fn total_bytes(&self) -> usize {
        self.max_images * self.max_image_bytes + self.max_documents * self.max_document_bytes
    }

    /// The largest attachment payload any provider accepts.
    pub const fn largest_total_bytes() -> usize {
        let all = [Self::CONVERSE, Self::MESSAGES, Self::CHAT_COMPLETIONS];
        let mut largest = 0;
        let mut i = 0;
        while i < all.len() {
            if all[i].total_bytes() > largest {
                largest = all[i].total_bytes();
            }
            i += 1;
        }
        largest
    }
}
