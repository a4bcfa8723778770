//! Which tool, if any, the model must call. Written in `agents.yaml` (`tool_choice`) and
//! sent by every provider, so it lives here rather than in `config` or `llm`: both use it,
//! neither owns it.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// The model must call some tool.
    Any,
    /// Tools are not offered this call.
    None,
    /// The model must call this (exposed) tool.
    Tool(String),
}
