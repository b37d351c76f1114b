//! Command-line syntax (clap). Commands resolve these raw arguments into their own options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "wasmstep",
    version,
    about = "Runs Amazon States Language state machines with WebAssembly task handlers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: the Step Functions API, durable executions, metrics.
    Serve(ServeArgs),
    /// Run one execution of a state machine and print its result as JSON on the last line.
    Run(RunArgs),
    /// Check definitions; print every problem found.
    Validate(ValidateArgs),
    /// Run a state machine many times and report throughput and latency as one JSON line.
    Bench(BenchArgs),
    /// Evaluate one JSONata expression over a JSON document and print the result as JSON.
    Jsonata(JsonataArgs),
    /// Load every handler of a plugins directory (compiling and caching it) and report each.
    Plugins(PluginsArgs),
    /// Make a running daemon look at its plugins and definitions directories again now (as
    /// SIGHUP does) and print what it loaded, rejected and removed.
    Reload(ReloadArgs),
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// The daemon's address (default http://127.0.0.1:8083, or $WASMSTEP_ENDPOINT).
    #[arg(long, env = "WASMSTEP_ENDPOINT", default_value = "http://127.0.0.1:8083")]
    pub endpoint: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8083).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Directory for the daemon's files and its SQLite store (default ~/.local/share/wasmstep).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Directory of Wasm task handlers.
    #[arg(long)]
    pub plugins: Option<PathBuf>,
    /// Directory of state machine definitions (*.asl.json, *.asl.yaml), each created under
    /// its file name.
    #[arg(long)]
    pub definitions: Option<PathBuf>,
    /// Do not watch the directories for changes; reload only on SIGHUP or `wasmstep reload`.
    #[arg(long)]
    pub no_watch: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How long finished executions and their history are kept: 90d (the default, as AWS),
    /// 12h, 30m, 45s.
    #[arg(long)]
    pub retention: Option<String>,
    /// Where the records are: a PostgreSQL database any number of daemons share
    /// (postgres://USER@HOST:PORT/DB), or a SQLite file (default: DATA_DIR/wasmstep.db).
    #[arg(long)]
    pub store: Option<String>,
    /// This daemon's name among those sharing a store (default: host name and process id).
    #[arg(long)]
    pub node_id: Option<String>,
    /// How long a lease on an execution lasts unless renewed (default 10s): how soon other
    /// daemons take over the executions of one that died.
    #[arg(long)]
    pub lease: Option<String>,
    /// At a stop, how long handler calls in flight get to finish before the executions are
    /// handed over (default 30s).
    #[arg(long)]
    pub drain_timeout: Option<String>,
    /// Folder of buckets for Distributed Maps' ItemReader and ResultWriter: bucket B is the
    /// folder BUCKETS/B, an object key a path inside it.
    #[arg(long)]
    pub buckets: Option<PathBuf>,
    /// TOML config file (keys: listen, data_dir, store, node_id, lease, drain_timeout, plugins,
    /// definitions, buckets, watch, retention, hosts, [auth], [tls]); flags win over it.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// Directory of Wasm task handlers (`NAME.wasm`, optional `NAME.toml`).
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct JsonataArgs {
    /// The expression.
    pub expr: String,
    /// JSON document the expression runs over (default: no input).
    #[arg(long)]
    pub data_file: Option<PathBuf>,
    /// JSON object of variable bindings (`{"x": 1}` binds `$x`).
    #[arg(long)]
    pub bindings_file: Option<PathBuf>,
    /// Evaluation time limit in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TypeArg {
    Standard,
    Express,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct InputArgs {
    /// Execution input as JSON text (default: {}).
    #[arg(long, conflicts_with = "input_file")]
    pub input: Option<String>,
    /// File holding the execution input as JSON.
    #[arg(long)]
    pub input_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Definition file (.json, .yaml or .yml), or a project file (serverless.yml, a SAM or
    /// CloudFormation template).
    pub file: PathBuf,
    /// The state machine to run, in a project file that defines several.
    #[arg(long)]
    pub state_machine: Option<String>,
    #[command(flatten)]
    pub input: InputArgs,
    /// Do not sleep in Wait states and retry delays; time jumps forward instead.
    #[arg(long)]
    pub skip_waits: bool,
    /// State machine type.
    #[arg(long = "type", value_enum, default_value = "standard")]
    pub machine_type: TypeArg,
    /// Add the execution history to the result.
    #[arg(long)]
    pub history: bool,
    /// Directory of Wasm task handlers.
    #[arg(long)]
    pub plugins: Option<PathBuf>,
    /// Directory of the state machines Tasks start (`states:startExecution`): NAME.asl.json
    /// (or .yaml) for `…:stateMachine:NAME`.
    #[arg(long)]
    pub definitions: Option<PathBuf>,
    /// Folder of buckets for Distributed Maps' ItemReader and ResultWriter: bucket B is the
    /// folder BUCKETS/B, an object key a path inside it.
    #[arg(long)]
    pub buckets: Option<PathBuf>,
    /// Payload size limit in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    pub payload_limit: usize,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Definition files, or project files (serverless.yml, SAM or CloudFormation templates).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format of the diagnostics.
    #[arg(long, value_enum, default_value = "text")]
    pub format: FormatArg,
    /// State machine type the definitions are checked for.
    #[arg(long = "type", value_enum, default_value = "standard")]
    pub machine_type: TypeArg,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Definition file.
    pub file: PathBuf,
    /// File holding the execution input (default: NAME.input.json beside the definition, else {}).
    #[arg(long)]
    pub input_file: Option<PathBuf>,
    /// Executions to measure (after a short warm-up).
    #[arg(long, default_value_t = 1000)]
    pub executions: u64,
    /// Executions running at once.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Directory of Wasm task handlers.
    #[arg(long)]
    pub plugins: Option<PathBuf>,
    /// Output checks (default: NAME.meta.json beside the definition, if present).
    #[arg(long)]
    pub meta: Option<PathBuf>,
    /// Run the executions durably, recording them in this store: a SQLite file (fsync'd, group
    /// commit) or a postgres://USER@HOST:PORT/DB database.
    #[arg(long)]
    pub store: Option<String>,
}
