//! AWS Signature Version 4, as AWS documents it ("Create a signed AWS API request"): the
//! canonical request, the string to sign and the derived signing key. Verification recomputes
//! the signature a client sent; signing (for `wasmstep reload`) computes one.
//!
//! Written from the specification: the maintained SigV4 crate (`aws-sigv4`) signs but does not
//! parse or verify, and brings the Smithy runtime along; verifying takes a page of HMAC-SHA256.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The algorithm name in `Authorization` and in the string to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header
/// holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    pub access_key_id: String,
    /// `YYYYMMDD`
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lower-case header names, in the order signed.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl Authorization {
    /// Parses the header; `Err` says what is malformed.
    pub fn parse(header: &str) -> Result<Authorization, String> {
        let rest = header
            .strip_prefix(ALGORITHM)
            .ok_or_else(|| format!("the Authorization header must use {ALGORITHM}"))?;
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            }
        }
        let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
            return Err("the Authorization header needs Credential, SignedHeaders and Signature".into());
        };
        let scope: Vec<&str> = credential.split('/').collect();
        let [key, date, region, service, terminator] = scope.as_slice() else {
            return Err("Credential must be ACCESS_KEY/DATE/REGION/SERVICE/aws4_request".into());
        };
        if *terminator != "aws4_request" || date.len() != 8 {
            return Err("Credential must be ACCESS_KEY/DATE/REGION/SERVICE/aws4_request".into());
        }
        Ok(Authorization {
            access_key_id: key.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
            signed_headers: signed.split(';').map(str::to_ascii_lowercase).collect(),
            signature: signature.to_string(),
        })
    }
}

/// The parts of an HTTP request that a signature covers.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent (already URI-encoded by the client).
    pub path: &'a str,
    pub query: &'a str,
    /// Every header, as (name, value); names in any case.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC-SHA256 accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `x-amz-content-sha256` when the client sent one, else the hash of the body.
fn payload_hash(req: &Request<'_>) -> String {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-content-sha256"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| hex(&Sha256::digest(req.body)))
}

/// The query string with its pairs sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The path as SigV4 signs it for every service but S3: the path as sent, URI-encoded once
/// more (`/tags/arn%3Aaws…` is signed as `/tags/arn%253Aaws…`); `/` when empty.
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical request over the headers named in `signed` (lower case, in order).
pub fn canonical_request(req: &Request<'_>, signed: &[String]) -> String {
    let mut headers = String::new();
    for name in signed {
        // Several headers of one name are joined with commas; values are trimmed and their
        // inner runs of spaces folded.
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let path = canonical_path(req.path);
    format!(
        "{}\n{path}\n{}\n{headers}\n{}\n{}",
        req.method,
        canonical_query(req.query),
        signed.join(";"),
        payload_hash(req)
    )
}

/// The signature of `req` with `secret`, for the scope `date/region/service` and the
/// `x-amz-date` time `amz_date`.
pub fn signature(
    req: &Request<'_>,
    signed: &[String],
    secret: &str,
    amz_date: &str,
    scope: (&str, &str, &str),
) -> String {
    let (date, region, service) = scope;
    let canonical = canonical_request(req, signed);
    let to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex(&hmac(&k_signing, to_sign.as_bytes()))
}

/// Credentials and scope to sign a request with.
pub struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

impl Signer<'_> {
    /// The headers that sign a request to `host` (`Host`, `X-Amz-Date`, `Authorization`),
    /// made at `now`.
    pub fn sign(
        &self,
        method: &str,
        host: &str,
        path: &str,
        body: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<(String, String)> {
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let date = &amz_date[..8];
        let headers = vec![
            ("host".to_string(), host.to_string()),
            ("x-amz-date".to_string(), amz_date.clone()),
        ];
        let signed = vec!["host".to_string(), "x-amz-date".to_string()];
        let req = Request {
            method,
            path,
            query: "",
            headers: &headers,
            body,
        };
        let sig = signature(&req, &signed, self.secret, &amz_date, (date, self.region, self.service));
        let mut out = headers;
        out.push((
            "authorization".to_string(),
            format!(
                "{ALGORITHM} Credential={}/{date}/{}/{}/aws4_request, SignedHeaders={}, Signature={sig}",
                self.access_key_id,
                self.region,
                self.service,
                signed.join(";")
            ),
        ));
        out
    }
}

/// Compares two signatures in time that does not depend on where they differ.
pub fn same_signature(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented example (IAM ListUsers, "Signature Version 4 signing process").
    #[test]
    fn matches_the_documented_example() {
        let headers = vec![
            (
                "Content-Type".to_string(),
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            ),
            ("Host".to_string(), "iam.amazonaws.com".to_string()),
            ("X-Amz-Date".to_string(), "20150830T123600Z".to_string()),
        ];
        let req = Request {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &headers,
            body: b"",
        };
        let signed = vec!["content-type".to_string(), "host".to_string(), "x-amz-date".to_string()];
        let sig = signature(
            &req,
            &signed,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830T123600Z",
            ("20150830", "us-east-1", "iam"),
        );
        assert_eq!(sig, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    }

    #[test]
    fn authorization_headers_parse() {
        let a = Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/states/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(a.access_key_id, "AKIDEXAMPLE");
        assert_eq!(a.service, "states");
        assert_eq!(a.signed_headers, ["content-type", "host", "x-amz-date"]);
        assert!(Authorization::parse("Basic dXNlcjpwYXNz").is_err());
        assert!(
            Authorization::parse(
                "AWS4-HMAC-SHA256 Credential=AKID/2015/us-east-1/states/aws4_request, SignedHeaders=host, Signature=x"
            )
            .is_err()
        );
        assert!(same_signature("abc", "abc") && !same_signature("abc", "abd") && !same_signature("ab", "abc"));
    }
}
