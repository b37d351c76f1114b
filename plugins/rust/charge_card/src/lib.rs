//! `charge_card`: charges the card. A card ending in 0000 is declined (`PaymentDeclined`); a card
//! ending in 9999 hits a transient `GatewayTimeout` on the first attempt (the state's Retry
//! recovers it: the context's RetryCount says which attempt this is).

use wasmstep_sdk::{Context, TaskError, Value, json};

fn charge(input: Value, ctx: &Context) -> Result<Value, TaskError> {
    let card = input["card"].as_str().unwrap_or_default();
    if card.ends_with("0000") {
        return Err(TaskError::new(
            "PaymentDeclined",
            format!("card ending {} was declined", &card[card.len().saturating_sub(4)..]),
        ));
    }
    if card.ends_with("9999") && ctx.retry_count == 0 {
        return Err(TaskError::new("GatewayTimeout", "the payment gateway did not answer"));
    }
    Ok(json!({"charged": input["amount"], "attempts": ctx.retry_count + 1}))
}

wasmstep_sdk::handler!(charge);
