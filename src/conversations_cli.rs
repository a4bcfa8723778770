//! `pallas conversations list | show | delete`: the store the config names, read and changed
//! from the command line (for support, privacy requests and clean-ups), without a server.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Project;
use crate::store::Conversations;
use crate::store::admin::{self, ListRow};

#[derive(Debug, Clone, Subcommand)]
pub enum ConversationsCommand {
    /// Stored conversations, most recently updated first.
    List {
        /// Only this agent's conversations.
        #[arg(long)]
        agent: Option<String>,
    },
    /// One conversation with every stored message.
    Show {
        /// The conversation id (as `list` shows it).
        id: String,
        /// The agent, when several agents have a conversation with this id.
        #[arg(long)]
        agent: Option<String>,
    },
    /// Deletes one conversation (after the turn running on it, if any).
    Delete {
        id: String,
        #[arg(long)]
        agent: Option<String>,
    },
}

/// Runs one subcommand against the store `project` configures.
pub async fn run(project: &Project, command: ConversationsCommand) -> ExitCode {
    let conversations = match Conversations::open(&project.conversations, &project.root).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: {}: conversations: {e}",
                project.agents_file.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let lines = match command {
        ConversationsCommand::List { agent } => admin::list(&conversations, agent.as_deref())
            .await
            .map(|rows| {
                if rows.is_empty() {
                    vec![format!(
                        "no stored conversations in {}",
                        conversations.describe()
                    )]
                } else {
                    std::iter::once(ListRow::HEADER.to_string())
                        .chain(rows.iter().map(ToString::to_string))
                        .collect()
                }
            }),
        ConversationsCommand::Show { id, agent } => {
            admin::show(&conversations, &id, agent.as_deref())
                .await
                .map(|rows| rows.iter().map(ToString::to_string).collect())
        }
        ConversationsCommand::Delete { id, agent } => {
            admin::delete(&conversations, &id, agent.as_deref())
                .await
                .map(|line| vec![line])
        }
    };
    match lines {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
