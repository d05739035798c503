//! `lyrebird operator ...`: the operator's commands, run on the database the server uses (the
//! embedded cluster, running or not, or `DATABASE_URL`) with the same options as `lyrebird
//! serve`; running servers apply every change at once. The console (`/operator`) and the API
//! (`/api/v1/operator/...`) do the same for accounts made operators here.

use std::fmt::Write as _;

use clap::{Args, Subcommand};
use lyrebird_store::{Email, Store, StoreError, UsageMonth, WorkspaceRef};

use crate::api::operator::{self as api, OperatorWorkspaceChange, PlanFields};
use crate::api::usage::describe;
use crate::config::ServeArgs;
use crate::database;
use crate::error::ApiError;

/// A command of `lyrebird operator`; each takes the options of `lyrebird serve` that find the
/// database.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Makes an account an operator: it sees the console at /operator.
    Grant(AccountArgs),
    /// Makes an account no longer an operator.
    Revoke(AccountArgs),
    /// Prints a link that lets the account choose a new password, for a server that does not
    /// send mail: it works once, for two hours, and ends the account's sessions.
    ResetLink(AccountArgs),
    /// Lists workspaces, newest first: members, mocks, calls this month, quota, plan, last
    /// activity and suspension.
    Workspaces {
        /// Part of a workspace's name or of a member's email, or a workspace's id.
        #[arg(long)]
        search: Option<String>,
        /// From 1.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        page: u64,
        #[arg(long, default_value_t = api::DEFAULT_PER_PAGE,
              value_parser = clap::value_parser!(u64).range(1..=api::MAX_PER_PAGE))]
        per_page: u64,
        #[command(flatten)]
        database: ServeArgs,
    },
    /// Sets a workspace's own monthly quota of mock calls, which beats its plan's (`none`
    /// removes it).
    Quota {
        workspace: WorkspaceRef,
        quota: Limit,
        #[command(flatten)]
        database: ServeArgs,
    },
    /// Suspends a workspace: its mocks answer 403 workspace_suspended, and its members can
    /// read and export but change nothing.
    Suspend(WorkspaceArgs),
    /// Lifts a workspace's suspension.
    Unsuspend(WorkspaceArgs),
    /// Deletes a team workspace with its mocks, calls and keys (a personal workspace goes only
    /// with its account).
    Delete(WorkspaceArgs),
    /// Plans: named limits that workspaces get.
    Plan {
        #[command(subcommand)]
        command: PlanCommand,
    },
}

#[derive(Debug, Args)]
pub struct AccountArgs {
    /// The account's email.
    #[arg(value_parser = parse_email)]
    pub email: Email,
    #[command(flatten)]
    pub database: ServeArgs,
}

#[derive(Debug, Args)]
pub struct WorkspaceArgs {
    /// The workspace's id, or its owner's email (their personal workspace).
    pub workspace: WorkspaceRef,
    #[command(flatten)]
    pub database: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Creates a plan; limits left out are the server's defaults.
    Create {
        /// Lowercase letters, digits, - and _.
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        database: ServeArgs,
    },
    /// Changes some of a plan's limits (`none` gives one back to the server's default); its
    /// workspaces take them in at once.
    Update {
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        database: ServeArgs,
    },
    /// Deletes a plan no workspace is on.
    Delete {
        name: String,
        #[command(flatten)]
        database: ServeArgs,
    },
    /// Lists the plans.
    List {
        #[command(flatten)]
        database: ServeArgs,
    },
    /// Puts a workspace on a plan (`none`: on no plan).
    Assign {
        /// The workspace's id, or its owner's email.
        workspace: WorkspaceRef,
        plan: String,
        #[command(flatten)]
        database: ServeArgs,
    },
    /// Chooses the plan new workspaces get (`none`: no plan).
    Default {
        plan: String,
        #[command(flatten)]
        database: ServeArgs,
    },
}

/// A plan's limits on the command line: a number, or `none` for the server's default.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Mock calls per calendar month (UTC), unless a workspace has a quota of its own.
    #[arg(long)]
    pub quota: Option<Limit>,
    /// Mocks a workspace may hold.
    #[arg(long)]
    pub max_mocks: Option<Limit>,
    /// Days the call log keeps calls.
    #[arg(long)]
    pub call_retention_days: Option<Limit>,
    /// Bytes one state of a mock may hold.
    #[arg(long)]
    pub state_max_bytes: Option<Limit>,
}

/// A number, or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(Option<u64>);

impl std::str::FromStr for Limit {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, String> {
        match input.trim() {
            "none" => Ok(Limit(None)),
            number => number
                .parse()
                .map(|n| Limit(Some(n)))
                .map_err(|_| format!("{input:?} is neither a number nor `none`")),
        }
    }
}

impl LimitArgs {
    fn fields(&self, name: Option<String>) -> anyhow::Result<PlanFields> {
        let small = |limit: Option<Limit>, flag: &str| -> anyhow::Result<Option<Option<u32>>> {
            limit
                .map(|Limit(n)| n.map(u32::try_from).transpose())
                .transpose()
                .map_err(|_| anyhow::anyhow!("--{flag} is at most {}", u32::MAX))
        };
        Ok(PlanFields {
            name,
            monthly_quota: self.quota.map(|Limit(n)| n),
            max_mocks: small(self.max_mocks, "max-mocks")?,
            call_retention_days: small(self.call_retention_days, "call-retention-days")?,
            state_max_bytes: self.state_max_bytes.map(|Limit(n)| n),
        })
    }
}

fn parse_email(input: &str) -> Result<Email, String> {
    Email::parse(input).map_err(str::to_owned)
}

/// `none`, or a plan's name.
fn plan_or_none(plan: &str) -> Option<&str> {
    (plan != "none").then_some(plan)
}

impl OperatorCommand {
    fn database(&self) -> &ServeArgs {
        match self {
            OperatorCommand::Grant(args)
            | OperatorCommand::Revoke(args)
            | OperatorCommand::ResetLink(args) => &args.database,
            OperatorCommand::Suspend(args)
            | OperatorCommand::Unsuspend(args)
            | OperatorCommand::Delete(args) => &args.database,
            OperatorCommand::Workspaces { database, .. }
            | OperatorCommand::Quota { database, .. } => database,
            OperatorCommand::Plan { command } => match command {
                PlanCommand::Create { database, .. }
                | PlanCommand::Update { database, .. }
                | PlanCommand::Delete { database, .. }
                | PlanCommand::List { database }
                | PlanCommand::Assign { database, .. }
                | PlanCommand::Default { database, .. } => database,
            },
        }
    }
}

/// Runs the command and returns what to print.
pub async fn run(command: OperatorCommand) -> anyhow::Result<String> {
    let args = command.database().clone();
    let (store, embedded) = database::open(&args, database::Running::Share).await?;
    let done = execute(&store, &args, command).await;
    store.close().await;
    if let Some(postgres) = embedded {
        postgres.stop().await?;
    }
    done
}

async fn execute(
    store: &Store,
    args: &ServeArgs,
    command: OperatorCommand,
) -> anyhow::Result<String> {
    match command {
        OperatorCommand::Grant(AccountArgs { ref email, .. })
        | OperatorCommand::Revoke(AccountArgs { ref email, .. }) => {
            let grant = matches!(command, OperatorCommand::Grant(_));
            match store.set_operator(email, grant).await {
                Err(StoreError::NotFound) => {
                    anyhow::bail!("no account has the email {}", email.as_str())
                }
                other => other?,
            };
            Ok(match grant {
                true => format!("{} is an operator", email.as_str()),
                false => format!("{} is no longer an operator", email.as_str()),
            })
        }
        OperatorCommand::ResetLink(AccountArgs {
            ref email,
            ref database,
        }) => {
            let token = match store.issue_password_reset(email).await {
                Err(StoreError::NotFound) => {
                    anyhow::bail!("no account has the email {}", email.as_str())
                }
                other => other?,
            };
            // The link the server would mail: on its public URL, or its base host.
            let base_host = database
                .base_host
                .clone()
                .unwrap_or_else(|| format!("localhost:{}", database.listen.port()));
            let mail = crate::mail::Mail::new(&database.mail, &base_host)?;
            Ok(mail.link(&format!("/reset-password/{}", token.expose())))
        }
        OperatorCommand::Workspaces {
            search,
            page,
            per_page,
            ..
        } => {
            let found = store
                .operator_workspaces(search.as_deref(), (page - 1) * per_page, per_page)
                .await?;
            Ok(workspace_table(&found, args.monthly_quota, page, per_page))
        }
        OperatorCommand::Quota {
            workspace,
            quota: Limit(quota),
            ..
        } => {
            let change = OperatorWorkspaceChange {
                monthly_quota: Some(quota),
                ..OperatorWorkspaceChange::default()
            };
            let id = api::change(store, &workspace, change, api::ChangedBy::COMMAND_LINE)
                .await
                .map_err(no_workspace(&workspace))?;
            Ok(match quota {
                Some(quota) => format!("workspace {id}: monthly quota set to {quota} mock calls"),
                None => format!(
                    "workspace {id}: its own monthly quota removed (its plan's or the server's applies)"
                ),
            })
        }
        OperatorCommand::Suspend(WorkspaceArgs { ref workspace, .. })
        | OperatorCommand::Unsuspend(WorkspaceArgs { ref workspace, .. }) => {
            let suspend = matches!(command, OperatorCommand::Suspend(_));
            let change = OperatorWorkspaceChange {
                suspended: Some(suspend),
                ..OperatorWorkspaceChange::default()
            };
            let id = api::change(store, workspace, change, api::ChangedBy::COMMAND_LINE)
                .await
                .map_err(no_workspace(workspace))?;
            Ok(match suspend {
                true => format!("workspace {id} is suspended"),
                false => format!("workspace {id} is no longer suspended"),
            })
        }
        OperatorCommand::Delete(WorkspaceArgs { workspace, .. }) => {
            let id = store
                .operator_delete_workspace(&workspace)
                .await
                .map_err(|error| no_workspace(&workspace)(error.into()))?;
            Ok(format!("workspace {id} is deleted"))
        }
        OperatorCommand::Plan { command } => plan(store, command).await,
    }
}

async fn plan(store: &Store, command: PlanCommand) -> anyhow::Result<String> {
    let no_plan = |name: &str| {
        let name = name.to_owned();
        move |error: ApiError| match error {
            ApiError::NotFound => anyhow::anyhow!("no plan is named {name:?}"),
            other => anyhow::anyhow!("{other}"),
        }
    };
    match command {
        PlanCommand::Create { name, limits, .. } => {
            let plan = api::create(store, &limits.fields(Some(name))?)
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            Ok(format!("plan {} created", plan.name))
        }
        PlanCommand::Update { name, limits, .. } => {
            let change = limits
                .fields(None)?
                .change()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            store
                .update_plan(&name, change)
                .await
                .map_err(|error| no_plan(&name)(error.into()))?;
            Ok(format!("plan {name} updated"))
        }
        PlanCommand::Delete { name, .. } => {
            store
                .delete_plan(&name)
                .await
                .map_err(|error| no_plan(&name)(error.into()))?;
            Ok(format!("plan {name} deleted"))
        }
        PlanCommand::List { .. } => Ok(plan_table(&store.plans().await?)),
        PlanCommand::Assign {
            workspace, plan, ..
        } => {
            let change = OperatorWorkspaceChange {
                plan: Some(plan_or_none(&plan).map(str::to_owned)),
                ..OperatorWorkspaceChange::default()
            };
            let id = api::change(store, &workspace, change, api::ChangedBy::COMMAND_LINE)
                .await
                .map_err(no_workspace(&workspace))?;
            Ok(format!("workspace {id} is on plan {plan}"))
        }
        PlanCommand::Default { plan, .. } => {
            api::set_default_plan(store, plan_or_none(&plan))
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            Ok(format!("new workspaces get plan {plan}"))
        }
    }
}

/// A refusal as the command says it: a workspace that is not found is named.
fn no_workspace(workspace: &WorkspaceRef) -> impl Fn(ApiError) -> anyhow::Error + '_ {
    move |error| match error {
        ApiError::NotFound => anyhow::anyhow!("no workspace is {}", describe(workspace)),
        other => anyhow::anyhow!("{other}"),
    }
}

/// The workspaces as a table for people.
fn workspace_table(
    found: &lyrebird_store::WorkspacePage,
    default_quota: u64,
    page: u64,
    per_page: u64,
) -> String {
    let mut out = format!(
        "{:<36}  {:<24}  {:<10}  {:>5}  {:>19}  {:<9}  {}\n",
        "ID", "NAME", "PLAN", "MOCKS", "CALLS/QUOTA", "STATE", "MEMBERS"
    );
    for workspace in &found.workspaces {
        let quota = workspace
            .monthly_quota
            .or(workspace.plan_quota)
            .map_or(default_quota, |n| u64::try_from(n).unwrap_or(0));
        let members: Vec<String> = workspace
            .members
            .0
            .iter()
            .map(|member| format!("{} ({})", member.email, member.role))
            .collect();
        let _ = writeln!(
            out,
            "{:<36}  {:<24}  {:<10}  {:>5}  {:>19}  {:<9}  {}",
            workspace.id,
            workspace.name,
            workspace.plan.as_deref().unwrap_or("-"),
            workspace.mocks,
            format!("{}/{quota}", workspace.calls_this_month),
            if workspace.suspended_at.is_some() {
                "suspended"
            } else {
                "active"
            },
            members.join(", ")
        );
    }
    let skipped = (page - 1) * per_page;
    let _ = write!(
        out,
        "{}-{} of {} workspaces (calls in {})",
        (skipped + 1).min(found.total.unsigned_abs()),
        skipped + found.workspaces.len() as u64,
        found.total,
        UsageMonth::current()
    );
    out
}

/// The plans as a table for people.
fn plan_table(plans: &[lyrebird_store::Plan]) -> String {
    let limit = |n: Option<u64>| n.map_or("default".to_owned(), |n| n.to_string());
    let mut out = format!(
        "{:<20}  {:>13}  {:>9}  {:>14}  {:>15}  {:>10}\n",
        "NAME", "MONTHLY QUOTA", "MAX MOCKS", "RETENTION DAYS", "STATE MAX BYTES", "WORKSPACES"
    );
    for plan in plans {
        let name = match plan.default {
            true => format!("{} (default)", plan.name),
            false => plan.name.clone(),
        };
        let _ = writeln!(
            out,
            "{name:<20}  {:>13}  {:>9}  {:>14}  {:>15}  {:>10}",
            limit(plan.limits.monthly_quota),
            limit(plan.limits.max_mocks.map(u64::from)),
            limit(plan.limits.call_retention_days.map(u64::from)),
            limit(plan.limits.state_max_bytes),
            plan.workspaces
        );
    }
    out.truncate(out.trim_end().len());
    out
}
