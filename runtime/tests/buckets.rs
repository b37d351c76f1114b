//! Distributed Maps over bucket folders (`serve --buckets DIR`), against the real daemon: a
//! 100,000-row CSV read as a stream with its results exported, a listObjectsV2 prefix with
//! execution records, failures within and beyond the tolerated threshold (FAILED and PENDING
//! result files) — each checked against the files written — and the folder buckets' own
//! promises (nothing outside a bucket is read or written, a half-written object is never seen).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Daemon, tempdir};
use serde_json::{Value, json};
use wasmstep::store::buckets::{BucketError, Buckets};
use wasmstep::store::folders::FolderBuckets;

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The manifest a Map's output names, and the bucket folder it is in.
fn manifest(buckets: &Path, output: &Value) -> Value {
    let details = &output["ResultWriterDetails"];
    let path = buckets
        .join(details["Bucket"].as_str().expect("bucket"))
        .join(details["Key"].as_str().expect("key"));
    read_json(&path)
}

fn output(done: &Value) -> Value {
    serde_json::from_str(done["output"].as_str().expect("an output")).expect("JSON output")
}

fn distributed(states: Value) -> Value {
    json!({"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "Work", "States": states})
}

#[test]
fn a_distributed_map_over_100k_csv_rows_exports_every_result() {
    let data = tempdir("buckets-100k");
    let buckets = tempdir("buckets-100k-folders");
    std::fs::create_dir_all(buckets.join("input")).unwrap();
    std::fs::create_dir_all(buckets.join("results")).unwrap();
    let mut csv = String::from("id,amount\n");
    for i in 0..100_000 {
        csv.push_str(&format!("{i},{}\n", i % 1000));
    }
    std::fs::write(buckets.join("input/rows.csv"), csv).unwrap();
    let daemon = Daemon::start_with(&data, &["--buckets".as_ref(), buckets.as_os_str()]);
    let machine = daemon.create_machine(
        "rows",
        &json!({"StartAt": "Each", "States": {"Each": {
            "Type": "Map", "End": true, "MaxConcurrency": 1000, "Label": "Rows",
            "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                           "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                           "Parameters": {"Bucket": "input", "Key.$": "$.key"}},
            "ItemProcessor": distributed(json!({"Work": {"Type": "Pass",
                "Parameters": {"id.$": "States.StringToJson($.id)", "double.$": "States.MathAdd(States.StringToJson($.amount), States.StringToJson($.amount))"},
                "End": true}})),
            "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                             "Parameters": {"Bucket": "results", "Prefix": "nightly/"},
                             "WriterConfig": {"OutputType": "JSONL", "Transformation": "COMPACT"}}
        }}}),
    );
    let exec = daemon.start_execution(&machine, &json!({"key": "rows.csv"}));
    let done = daemon.wait_done(&exec, Duration::from_secs(600));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let out = output(&done);
    let run = out["MapRunArn"].as_str().expect("map run");
    assert!(run.contains(":mapRun:rows/Rows:"), "{run}");
    let id = run.rsplit(':').next().unwrap();
    assert_eq!(out["ResultWriterDetails"]["Key"], format!("nightly/{id}/manifest.json"));
    let m = manifest(&buckets, &out);
    assert_eq!(m["MapRunArn"], run);
    assert_eq!(m["DestinationBucket"], "results");
    assert_eq!(m["ResultFiles"]["FAILED"], json!([]));
    assert_eq!(m["ResultFiles"]["PENDING"], json!([]));
    let files = m["ResultFiles"]["SUCCEEDED"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{m}");
    assert_eq!(files[0]["Key"], format!("nightly/{id}/SUCCEEDED_0.jsonl"));
    let path = buckets.join("results").join(files[0]["Key"].as_str().unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(files[0]["Size"], text.len() as u64);
    let mut seen = vec![false; 100_000];
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let i = v["id"].as_u64().unwrap() as usize;
        assert_eq!(v["double"], json!((i % 1000) * 2), "{line}");
        assert!(!seen[i], "row {i} twice");
        seen[i] = true;
    }
    assert!(seen.iter().all(|s| *s), "every row has its result");
    // Nothing half-written is left behind.
    let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_listing_exports_execution_records_and_failures_are_counted() {
    let data = tempdir("buckets-listing");
    let buckets = tempdir("buckets-listing-folders");
    for (key, body) in [
        ("photos/2024/a.jpg", "aaaa"),
        ("photos/2024/b.jpg", "bbbbbbbb"),
        ("photos/2024/broken.jpg", "x"),
        ("photos/2025/c.jpg", "cc"),
        ("other/d.jpg", "d"),
    ] {
        let p = buckets.join("media").join(key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    std::fs::create_dir_all(buckets.join("results")).unwrap();
    let daemon = Daemon::start_with(&data, &["--buckets".as_ref(), buckets.as_os_str()]);
    // Items whose object is under 2 bytes fail; one failure is tolerated.
    let definition = |tolerated: u64, concurrency: u64| {
        json!({"StartAt": "Each", "States": {"Each": {
            "Type": "Map", "End": true, "MaxConcurrency": concurrency, "ToleratedFailureCount": tolerated,
            "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2",
                           "Parameters": {"Bucket": "media", "Prefix": "photos/"}},
            "ItemProcessor": distributed(json!({
                "Work": {"Type": "Choice", "Choices": [{"Variable": "$.Size", "NumericLessThan": 2, "Next": "Broken"}], "Default": "Fine"},
                "Broken": {"Type": "Fail", "Error": "ImageBroken", "Cause": "too small to be an image"},
                "Fine": {"Type": "Pass", "Parameters": {"key.$": "$.Key", "bytes.$": "$.Size"}, "End": true}
            })),
            "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "results", "Prefix": "thumbs"}}
        }}})
    };
    let tolerant = daemon.create_machine("thumbs", &definition(1, 0));
    let exec = daemon.start_execution(&tolerant, &json!({}));
    let done = daemon.wait_done(&exec, Duration::from_secs(30));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let m = manifest(&buckets, &output(&done));
    let read = |file: &Value| read_json(&buckets.join("results").join(file["Key"].as_str().unwrap()));
    let succeeded = read(&m["ResultFiles"]["SUCCEEDED"][0]);
    let records = succeeded.as_array().unwrap();
    assert_eq!(records.len(), 3, "{succeeded}");
    for r in records {
        assert_eq!(r["Status"], "SUCCEEDED");
        let input: Value = serde_json::from_str(r["Input"].as_str().unwrap()).unwrap();
        let out: Value = serde_json::from_str(r["Output"].as_str().unwrap()).unwrap();
        assert_eq!(out["key"], input["Key"], "{r}");
        assert_eq!(out["bytes"], input["Size"], "{r}");
        assert!(input["Etag"].as_str().unwrap().starts_with('"'), "{input}");
        assert!(
            r["ExecutionArn"].as_str().unwrap().contains(":execution:thumbs/Each:"),
            "{r}"
        );
        assert_eq!(
            r["StateMachineArn"],
            "arn:aws:states:us-east-1:123456789012:stateMachine:thumbs/Each"
        );
        for field in ["Name", "StartDate", "StopDate", "RedriveStatus"] {
            assert!(r.get(field).is_some(), "{field} missing from {r}");
        }
    }
    let keys: Vec<Value> = records
        .iter()
        .map(|r| serde_json::from_str::<Value>(r["Input"].as_str().unwrap()).unwrap()["Key"].clone())
        .collect();
    assert_eq!(
        keys,
        json!(["photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg"])
            .as_array()
            .unwrap()
            .clone()
    );
    let failed = read(&m["ResultFiles"]["FAILED"][0]);
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
    assert_eq!(failed[0]["Status"], "FAILED");
    assert_eq!(failed[0]["Error"], "ImageBroken");
    assert_eq!(failed[0]["Cause"], "too small to be an image");

    // Beyond the threshold, one at a time: the Map fails, what ran is written, and the items
    // never started are PENDING.
    let strict = daemon.create_machine("thumbs-strict", &definition(0, 1));
    std::fs::write(buckets.join("media/photos/2024/a0.jpg"), "z").unwrap();
    let exec = daemon.start_execution(&strict, &json!({}));
    let done = daemon.wait_done(&exec, Duration::from_secs(30));
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["error"], "States.ExceedToleratedFailureThreshold");
    let out_dir = buckets.join("results/thumbs");
    let manifests: Vec<Value> = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("manifest.json"))
        .filter(|p| p.exists())
        .map(|p| read_json(&p))
        .filter(|m| m["MapRunArn"].as_str().unwrap().contains("thumbs-strict"))
        .collect();
    assert_eq!(manifests.len(), 1);
    let m = &manifests[0];
    // a.jpg succeeded, a0.jpg failed (over the threshold of 0); b, broken and c never ran.
    assert_eq!(
        read(&m["ResultFiles"]["SUCCEEDED"][0]).as_array().unwrap().len(),
        1,
        "{m}"
    );
    assert_eq!(read(&m["ResultFiles"]["FAILED"][0]).as_array().unwrap().len(), 1, "{m}");
    let pending = read(&m["ResultFiles"]["PENDING"][0]);
    assert_eq!(pending.as_array().unwrap().len(), 3, "{pending}");
    assert!(pending.as_array().unwrap().iter().all(|p| p["Status"] == "PENDING"));
}

#[test]
fn folder_buckets_keep_every_object_inside_its_bucket() {
    let root = tempdir("buckets-folders");
    let outside = tempdir("buckets-outside");
    std::fs::write(outside.join("secret.txt"), "secret").unwrap();
    std::fs::create_dir_all(root.join("box/inner")).unwrap();
    std::fs::write(root.join("box/inner/ok.txt"), "ok").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("box/leak.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("box/out")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("linked")).unwrap();
    let b = FolderBuckets::new(&root).unwrap();

    let mut text = String::new();
    std::io::Read::read_to_string(&mut b.open("box", "inner/ok.txt").unwrap(), &mut text).unwrap();
    assert_eq!(text, "ok");
    let refused = |r: Result<Box<dyn std::io::Read + Send>, BucketError>| match r {
        Err(BucketError::Refused(why)) => why,
        Err(e) => panic!("refused, not {e}"),
        Ok(_) => panic!("should be refused"),
    };
    assert!(refused(b.open("box", "leak.txt")).contains("leads out of the bucket"));
    assert!(refused(b.open("box", "out/secret.txt")).contains("leads out of the bucket"));
    assert!(refused(b.open("box", "../box/inner/ok.txt")).contains("'..'"));
    assert!(refused(b.open("box", "/etc/passwd")).contains("empty"));
    assert!(refused(b.open("Box", "inner/ok.txt")).contains("not a bucket name"));
    assert!(refused(b.open("linked", "secret.txt")).contains("not a folder inside"));
    assert!(matches!(b.open("none", "x"), Err(BucketError::NoSuchBucket(_))));
    assert!(matches!(
        b.open("box", "inner/missing"),
        Err(BucketError::NoSuchKey { .. })
    ));
    assert!(matches!(b.create("box", "out/new.txt"), Err(BucketError::Refused(_))));
    assert!(!outside.join("new.txt").exists());

    // Written objects appear whole when committed, and not at all when dropped.
    let mut w = b.create("box", "made/deep/one.txt").unwrap();
    std::io::Write::write_all(&mut w, b"hello").unwrap();
    assert!(
        b.list("box", "made/").unwrap().is_empty(),
        "not visible before the commit"
    );
    assert_eq!(w.commit().unwrap(), 5);
    let dropped = b.create("box", "made/two.txt").unwrap();
    drop(dropped);
    let listed: Vec<String> = b.list("box", "").unwrap().into_iter().map(|o| o.key).collect();
    // Links are not listed; keys are in byte order.
    assert_eq!(listed, vec!["inner/ok.txt", "made/deep/one.txt"]);
    let left = std::fs::read_dir(root.join("box/made")).unwrap().count();
    assert_eq!(left, 1, "only the committed object's folder is there");
    assert_eq!(b.list("box", "made/deep/o").unwrap()[0].size, 5);
    assert!(b.list("box", "zzz").unwrap().is_empty());
}

#[test]
fn a_distributed_map_over_a_bucket_survives_kill_9() {
    let data = tempdir("buckets-restart");
    let buckets = tempdir("buckets-restart-folders");
    std::fs::create_dir_all(buckets.join("input")).unwrap();
    std::fs::create_dir_all(buckets.join("results")).unwrap();
    let lines: Vec<String> = (0..2000).map(|i| json!({"n": i}).to_string()).collect();
    std::fs::write(buckets.join("input/items.jsonl"), lines.join("\n")).unwrap();
    let args = ["--buckets".as_ref(), buckets.as_os_str()];
    let daemon = Daemon::start_with(&data, &args);
    let machine = daemon.create_machine(
        "slow-rows",
        &json!({"StartAt": "Each", "States": {"Each": {
            "Type": "Map", "End": true, "MaxConcurrency": 500,
            "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSONL"},
                           "Parameters": {"Bucket": "input", "Key": "items.jsonl"}},
            "ItemProcessor": distributed(json!({
                "Work": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
                "Done": {"Type": "Pass", "Parameters": {"n.$": "$.n"}, "End": true}
            })),
            "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "results", "Prefix": "p"},
                             "WriterConfig": {"OutputType": "JSONL", "Transformation": "COMPACT"}}
        }}}),
    );
    let exec = daemon.start_execution(&machine, &json!({}));
    std::thread::sleep(Duration::from_millis(1500));
    daemon.kill();
    let daemon = Daemon::start_with(&data, &args);
    let done = daemon.wait_done(&exec, Duration::from_secs(60));
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let m = manifest(&buckets, &output(&done));
    let files = m["ResultFiles"]["SUCCEEDED"].as_array().unwrap();
    let text = std::fs::read_to_string(buckets.join("results").join(files[0]["Key"].as_str().unwrap())).unwrap();
    let mut got: Vec<u64> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["n"].as_u64().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..2000).collect::<Vec<u64>>(), "each item's result once");
}
