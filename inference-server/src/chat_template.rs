//! Turns chat messages into the prompt text a model was trained on.
//!
//! Full Jinja is not needed for the models served here: the template string from the GGUF
//! file is inspected to pick a known format (ChatML, Llama 3), and ChatML is the fallback.
//! SmolLM2's template injects a default system prompt when the conversation has none; that
//! prompt is read from the template itself so output matches llama.cpp's.

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// The prompt formats this server can render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\ncontent<|im_end|>\n`, optionally with a default system prompt.
    ChatMl { default_system: Option<String> },
    /// `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`.
    Llama3,
}

const IM_START: &str = "<|im_start|>";
const IM_END: &str = "<|im_end|>";

impl ChatTemplate {
    /// Picks the format described by a GGUF `tokenizer.chat_template` string.
    pub fn from_template_source(source: Option<&str>) -> Self {
        match source {
            Some(s) if s.contains("<|start_header_id|>") => Self::Llama3,
            Some(s) => Self::ChatMl { default_system: default_chatml_system_prompt(s) },
            None => Self::ChatMl { default_system: None },
        }
    }

    /// Renders the conversation and opens the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage]) -> String {
        let mut prompt = String::new();
        match self {
            Self::ChatMl { default_system } => {
                let has_system = messages.first().is_some_and(|m| m.role == "system");
                if let (false, Some(system)) = (has_system, default_system) {
                    push_chatml(&mut prompt, "system", system);
                }
                for message in messages {
                    push_chatml(&mut prompt, &message.role, &message.content);
                }
                prompt.push_str(IM_START);
                prompt.push_str("assistant\n");
            }
            Self::Llama3 => {
                prompt.push_str("<|begin_of_text|>");
                for message in messages {
                    prompt.push_str("<|start_header_id|>");
                    prompt.push_str(&message.role);
                    prompt.push_str("<|end_header_id|>\n\n");
                    prompt.push_str(message.content.trim());
                    prompt.push_str("<|eot_id|>");
                }
                prompt.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
            }
        }
        prompt
    }
}

fn push_chatml(prompt: &mut String, role: &str, content: &str) {
    prompt.push_str(IM_START);
    prompt.push_str(role);
    prompt.push('\n');
    prompt.push_str(content);
    prompt.push_str(IM_END);
    prompt.push('\n');
}

/// The literal system turn a ChatML template inserts when none is given, e.g.
/// `'<|im_start|>system\nYou are a helpful AI assistant named SmolLM…<|im_end|>\n'`.
fn default_chatml_system_prompt(template: &str) -> Option<String> {
    let marker = "<|im_start|>system\n";
    let start = template.find(marker)? + marker.len();
    let rest = &template[start..];
    let end = rest.find(IM_END)?;
    let text = &rest[..end];
    // A Jinja expression here means the system text comes from the messages, not a literal.
    if text.contains("{{") || text.contains("{%") || text.contains('\'') {
        return None;
    }
    Some(text.replace("\\n", "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2_TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn user(text: &str) -> ChatMessage {
        ChatMessage { role: "user".into(), content: text.into() }
    }

    #[test]
    fn smollm2_template_injects_default_system_prompt() {
        let template = ChatTemplate::from_template_source(Some(SMOLLM2_TEMPLATE));
        assert_eq!(
            template.render(&[user("Hi")]),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn explicit_system_message_replaces_default() {
        let template = ChatTemplate::from_template_source(Some(SMOLLM2_TEMPLATE));
        let system = ChatMessage { role: "system".into(), content: "Be brief.".into() };
        assert_eq!(
            template.render(&[system, user("Hi")]),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn missing_template_falls_back_to_plain_chatml() {
        let template = ChatTemplate::from_template_source(None);
        assert_eq!(template.render(&[user("Hi")]), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    }
}
