//! The typed request of one planned item: what a worker is asked to send ([`Ask`]) and
//! the judge step that may follow ([`JudgeStep`]).
//!
//! The planner builds an [`ItemRequest`]; the store keeps it as chat messages
//! ([`ItemRequest::stored_messages`]), because that text is what item keys and the
//! response cache's request keys hash, and changing it would orphan every cached answer
//! and change every run id. That encoding — log-likelihood texts and the judge prompt as
//! messages with roles of their own — lives in this file only: it is written by
//! [`ItemRequest::stored_messages`], read back once by [`ItemRequest::from_stored`] when
//! a shard is leased, and sent to the worker as the proto `oneof`
//! ([`ItemRequest::into_wire`]), which no worker has to decode by role.

use jianzhen_proto::v1;
use jianzhen_suites::template::{ChatMessage, ChoicePrompts};

/// Role of the text every option of a log-likelihood item shares (stored form only).
const LOGLIK_PREFIX_ROLE: &str = "loglik:prefix";
/// Prefix of the role of one option's continuation: `loglik:A` (stored form only).
const LOGLIK_OPTION_ROLE_PREFIX: &str = "loglik:";
/// Role of the one text whose prompt tokens' log-probabilities are asked for (stored
/// form only).
const PROMPT_LOGPROBS_ROLE: &str = "echo:prompt";
/// Roles of a judged item's judge prompt, after its own messages (stored form only).
const JUDGE_ROLE_PREFIX: &str = "judge:";
const JUDGE_SYSTEM_ROLE: &str = "judge:system";
const JUDGE_USER_ROLE: &str = "judge:user";

/// One option of a log-likelihood item: its letter and the text whose tokens'
/// log-probabilities are summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoglikOption {
    pub label: String,
    pub continuation: String,
}

/// What the worker sends to the endpoint for an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// A chat completion, read for its text.
    Chat { messages: Vec<ChatMessage> },
    /// A chat completion of one token with its top log-probabilities.
    FirstToken {
        messages: Vec<ChatMessage>,
        top_logprobs: u32,
    },
    /// `/v1/completions` with echo: each option's continuation after the shared prefix.
    LoglikEcho {
        prefix: String,
        options: Vec<LoglikOption>,
    },
    /// `/v1/completions` with echo for `text` alone: every prompt token's log-probability
    /// (the contamination audit's Min-K% test).
    PromptLogprobs { text: String },
}

/// The judge model's step after the answer: its system prompt and the user prompt with
/// `{predicted_answer}` where the answer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeStep {
    pub system: String,
    pub user_template: String,
}

/// One item's request, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRequest {
    pub ask: Ask,
    pub judge: Option<JudgeStep>,
}

/// A stored request that cannot be read back (a store edited by hand or damaged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored request is not valid: {0}; plan the run again")]
pub struct StoredRequestError(String);

impl ItemRequest {
    /// A chat request.
    pub fn chat(messages: Vec<ChatMessage>) -> ItemRequest {
        ItemRequest {
            ask: Ask::Chat { messages },
            judge: None,
        }
    }

    /// A log-likelihood request from a template's rendered continuations.
    pub fn loglik_echo(prompts: &ChoicePrompts) -> ItemRequest {
        ItemRequest {
            ask: Ask::LoglikEcho {
                prefix: prompts.prefix.clone(),
                options: prompts
                    .options
                    .iter()
                    .map(|option| LoglikOption {
                        label: option.letter.to_string(),
                        continuation: option.continuation.clone(),
                    })
                    .collect(),
            },
            judge: None,
        }
    }

    /// A request for every prompt token's log-probability of `text`.
    pub fn prompt_logprobs(text: &str) -> ItemRequest {
        ItemRequest {
            ask: Ask::PromptLogprobs {
                text: text.to_string(),
            },
            judge: None,
        }
    }

    /// The form the store keeps and item and request keys hash (unchanged since before
    /// requests were typed).
    pub fn stored_messages(&self) -> Vec<ChatMessage> {
        let message = |role: &str, content: &str| ChatMessage {
            role: role.to_string(),
            content: content.to_string(),
        };
        let mut messages = match &self.ask {
            Ask::Chat { messages } | Ask::FirstToken { messages, .. } => messages.clone(),
            Ask::LoglikEcho { prefix, options } => {
                std::iter::once(message(LOGLIK_PREFIX_ROLE, prefix))
                    .chain(options.iter().map(|option| {
                        message(
                            &format!("{LOGLIK_OPTION_ROLE_PREFIX}{}", option.label),
                            &option.continuation,
                        )
                    }))
                    .collect()
            }
            Ask::PromptLogprobs { text } => vec![message(PROMPT_LOGPROBS_ROLE, text)],
        };
        if let Some(judge) = &self.judge {
            messages.push(message(JUDGE_SYSTEM_ROLE, &judge.system));
            messages.push(message(JUDGE_USER_ROLE, &judge.user_template));
        }
        messages
    }

    /// Reads a stored request back from the JSON the store keeps
    /// ([`ItemRequest::stored_messages`], serialised); see [`ItemRequest::from_stored`].
    ///
    /// # Errors
    /// Text that is not a JSON list of chat messages, and what `from_stored` refuses.
    pub fn from_stored_json(
        messages_json: &str,
        top_logprobs: u32,
    ) -> Result<ItemRequest, StoredRequestError> {
        let messages: Vec<ChatMessage> = serde_json::from_str(messages_json).map_err(|error| {
            StoredRequestError(format!(
                "the stored prompt is not JSON chat messages: {error}"
            ))
        })?;
        ItemRequest::from_stored(messages, top_logprobs)
    }

    /// Reads a stored request back: `top_logprobs > 0` marks a first-token item (the
    /// planner stores its count with the item).
    ///
    /// # Errors
    /// A judge prompt without both its parts, or a log-likelihood item without options.
    pub fn from_stored(
        messages: Vec<ChatMessage>,
        top_logprobs: u32,
    ) -> Result<ItemRequest, StoredRequestError> {
        let (judge_messages, messages): (Vec<_>, Vec<_>) = messages
            .into_iter()
            .partition(|message| message.role.starts_with(JUDGE_ROLE_PREFIX));
        let judge = if judge_messages.is_empty() {
            None
        } else {
            let content = |role: &str| {
                judge_messages
                    .iter()
                    .find(|message| message.role == role)
                    .map(|message| message.content.clone())
                    .ok_or_else(|| StoredRequestError(format!("the judge prompt has no `{role}`")))
            };
            Some(JudgeStep {
                system: content(JUDGE_SYSTEM_ROLE)?,
                user_template: content(JUDGE_USER_ROLE)?,
            })
        };
        if let [only] = messages.as_slice()
            && only.role == PROMPT_LOGPROBS_ROLE
        {
            return Ok(ItemRequest {
                ask: Ask::PromptLogprobs {
                    text: only.content.clone(),
                },
                judge,
            });
        }
        let is_loglik = messages
            .first()
            .is_some_and(|message| message.role == LOGLIK_PREFIX_ROLE);
        let ask = if is_loglik {
            let mut messages = messages.into_iter();
            let prefix = messages
                .next()
                .map(|message| message.content)
                .unwrap_or_default();
            let options = messages
                .map(|message| {
                    let label = message
                        .role
                        .strip_prefix(LOGLIK_OPTION_ROLE_PREFIX)
                        .ok_or_else(|| {
                            StoredRequestError(format!(
                                "a log-likelihood option has role `{}`",
                                message.role
                            ))
                        })?;
                    Ok(LoglikOption {
                        label: label.to_string(),
                        continuation: message.content,
                    })
                })
                .collect::<Result<Vec<_>, StoredRequestError>>()?;
            if options.is_empty() {
                return Err(StoredRequestError(
                    "a log-likelihood item has no options".to_string(),
                ));
            }
            Ask::LoglikEcho { prefix, options }
        } else if top_logprobs > 0 {
            Ask::FirstToken {
                messages,
                top_logprobs,
            }
        } else {
            Ask::Chat { messages }
        };
        Ok(ItemRequest { ask, judge })
    }

    /// The request as a worker gets it in a lease.
    pub fn into_wire(self, item_key: String, repeat: u32, max_tokens: u32) -> v1::ItemRequest {
        let wire_messages = |messages: Vec<ChatMessage>| {
            messages
                .into_iter()
                .map(|message| v1::ChatMessage {
                    role: message.role,
                    content: message.content,
                })
                .collect()
        };
        let request = match self.ask {
            Ask::Chat { messages } => v1::item_request::Request::Chat(v1::ChatRequest {
                messages: wire_messages(messages),
            }),
            Ask::FirstToken {
                messages,
                top_logprobs,
            } => v1::item_request::Request::FirstToken(v1::FirstTokenRequest {
                messages: wire_messages(messages),
                top_logprobs,
            }),
            Ask::LoglikEcho { prefix, options } => {
                v1::item_request::Request::LoglikEcho(v1::LoglikEchoRequest {
                    prefix,
                    options: options
                        .into_iter()
                        .map(|option| v1::LoglikOption {
                            label: option.label,
                            continuation: option.continuation,
                        })
                        .collect(),
                })
            }
            Ask::PromptLogprobs { text } => {
                v1::item_request::Request::PromptLogprobs(v1::PromptLogprobsRequest { text })
            }
        };
        v1::ItemRequest {
            item_key,
            repeat,
            max_tokens,
            request: Some(request),
            judge: self.judge.map(|judge| v1::JudgeCall {
                system: judge.system,
                user_template: judge.user_template,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jianzhen_suites::template::ChoiceContinuation;

    fn message(role: &str, content: &str) -> ChatMessage {
        ChatMessage {
            role: role.to_string(),
            content: content.to_string(),
        }
    }

    #[test]
    fn the_stored_form_is_the_one_request_keys_always_hashed() {
        let prompts = ChoicePrompts {
            template: "t".to_string(),
            prefix: "问题：1+1=？\n".to_string(),
            options: vec![
                ChoiceContinuation {
                    letter: 'A',
                    continuation: "答案是: A".to_string(),
                },
                ChoiceContinuation {
                    letter: 'B',
                    continuation: "答案是: B".to_string(),
                },
            ],
        };
        let stored = ItemRequest::loglik_echo(&prompts).stored_messages();
        assert_eq!(
            serde_json::to_string(&stored).expect("json"),
            r#"[{"role":"loglik:prefix","content":"问题：1+1=？\n"},{"role":"loglik:A","content":"答案是: A"},{"role":"loglik:B","content":"答案是: B"}]"#
        );
        let judged = ItemRequest {
            ask: Ask::Chat {
                messages: vec![message("user", "谁写了《红楼梦》？")],
            },
            judge: Some(JudgeStep {
                system: "judge".to_string(),
                user_template: "{predicted_answer}".to_string(),
            }),
        };
        assert_eq!(
            judged.stored_messages(),
            vec![
                message("user", "谁写了《红楼梦》？"),
                message("judge:system", "judge"),
                message("judge:user", "{predicted_answer}"),
            ]
        );
    }

    #[test]
    fn every_request_reads_back_as_it_was_stored() {
        let chat = ItemRequest::chat(vec![message("system", "s"), message("user", "u")]);
        let first_token = ItemRequest {
            ask: Ask::FirstToken {
                messages: vec![message("user", "u")],
                top_logprobs: 20,
            },
            judge: None,
        };
        let loglik = ItemRequest {
            ask: Ask::LoglikEcho {
                prefix: "p".to_string(),
                options: vec![LoglikOption {
                    label: "A".to_string(),
                    continuation: " A".to_string(),
                }],
            },
            judge: None,
        };
        let judged = ItemRequest {
            judge: Some(JudgeStep {
                system: "s".to_string(),
                user_template: "t".to_string(),
            }),
            ..chat.clone()
        };
        let prompt_logprobs = ItemRequest::prompt_logprobs("下列哪一项是正确的？");
        assert_eq!(
            serde_json::to_string(&prompt_logprobs.stored_messages()).expect("json"),
            r#"[{"role":"echo:prompt","content":"下列哪一项是正确的？"}]"#
        );
        assert!(matches!(
            prompt_logprobs.clone().into_wire("k".into(), 0, 1).request,
            Some(v1::item_request::Request::PromptLogprobs(ref request)) if request.text == "下列哪一项是正确的？"
        ));
        for (request, top_logprobs) in [
            (chat, 0),
            (first_token, 20),
            (loglik, 0),
            (judged, 0),
            (prompt_logprobs, 0),
        ] {
            assert_eq!(
                ItemRequest::from_stored(request.stored_messages(), top_logprobs),
                Ok(request)
            );
        }
    }

    #[test]
    fn a_damaged_stored_request_is_refused() {
        let half_judge = vec![message("user", "u"), message("judge:system", "s")];
        assert!(ItemRequest::from_stored(half_judge, 0).is_err());
        let no_options = vec![message("loglik:prefix", "p")];
        assert!(ItemRequest::from_stored(no_options, 0).is_err());
    }

    #[test]
    fn the_wire_form_is_the_oneof() {
        let wire = ItemRequest::chat(vec![message("user", "u")]).into_wire("k".into(), 1, 64);
        assert!(matches!(
            wire.request,
            Some(v1::item_request::Request::Chat(ref chat)) if chat.messages.len() == 1
        ));
        assert_eq!(
            (wire.item_key.as_str(), wire.repeat, wire.max_tokens),
            ("k", 1, 64)
        );
        assert!(wire.judge.is_none());
    }
}
