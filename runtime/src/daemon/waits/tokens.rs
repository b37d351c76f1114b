//! SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat: an answer (or a sign of life) for a
//! waiting Task, from anyone holding its token, on any node. The first answer wins; a second,
//! or one after the Task timed out or its execution ended, is refused as AWS refuses it.

use serde_json::Value;

use crate::daemon::error::{Result, ServiceError, error, unavailable};
use crate::daemon::service::{Service, now_secs};
use crate::engine::outside::Answer;
use crate::store::{TokenChange, TokenRefusal};

/// A token wasmstep could have issued: URL-safe base64 of 32 bytes (`outside::new_token`).
fn check_token(token: &str) -> Result<()> {
    use base64::Engine as _;
    match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token) {
        Ok(bytes) if bytes.len() == 32 => Ok(()),
        _ => Err(error("InvalidToken", "Invalid Token: 'Invalid token'")),
    }
}

fn refused(r: TokenRefusal) -> ServiceError {
    match r {
        TokenRefusal::Unknown => error(
            "TaskDoesNotExist",
            "Task Does Not Exist: 'Provided task does not exist'",
        ),
        TokenRefusal::Settled => error("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'"),
    }
}

impl Service {
    /// SendTaskSuccess: `output` must be JSON.
    pub async fn send_task_success(&self, token: &str, output: &str) -> Result<()> {
        check_token(token)?;
        let output: Value =
            serde_json::from_str(output).map_err(|e| error("InvalidOutput", format!("Invalid Output: '{e}'")))?;
        self.answer_token(token, Answer::Output(output)).await
    }

    /// SendTaskFailure: the Task fails with `error` and `cause` (Retry and Catch see them).
    pub async fn send_task_failure(&self, token: &str, err: Option<&str>, cause: Option<&str>) -> Result<()> {
        check_token(token)?;
        let answer = Answer::Failure {
            error: err.map(str::to_string),
            cause: cause.map(str::to_string),
        };
        self.answer_token(token, answer).await
    }

    /// SendTaskHeartbeat: restarts the Task's heartbeat clock.
    pub async fn send_task_heartbeat(&self, token: &str) -> Result<()> {
        check_token(token)?;
        self.change(token, TokenChange::Heartbeat(now_secs())).await
    }

    async fn answer_token(&self, token: &str, answer: Answer) -> Result<()> {
        self.change(token, TokenChange::Answer(answer.to_text())).await
    }

    /// Changes the token durably, then wakes its Task if it waits here.
    async fn change(&self, token: &str, change: TokenChange) -> Result<()> {
        self.store
            .change_token(token, change)
            .await
            .map_err(unavailable)?
            .map_err(refused)?;
        self.waits.token_changed(token);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_before_they_are_looked_up() {
        assert!(check_token(&crate::engine::outside::new_token()).is_ok());
        for bad in ["", "x", "not a token", &"A".repeat(44)] {
            assert_eq!(check_token(bad).unwrap_err().kind, "InvalidToken", "{bad}");
        }
    }
}
