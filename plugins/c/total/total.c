/* total_c: the order total, the same contract as every other plugin language, as a WASI
 * preview1 command: the input JSON on stdin, the result on stdout, exit 1 with
 * {"error", "cause"} for a negative quantity or bad input.
 * Built with clang --target=wasm32-wasi against wasi-libc.
 *
 * A small recursive-descent JSON reader: it walks the whole document (so malformed input is
 * rejected) and picks out items[*].price and items[*].qty. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *p;
static int depth;

static void fail(const char *error, const char *cause) {
    printf("{\"error\":\"%s\",\"cause\":\"%s\"}", error, cause);
    exit(1);
}

static void ws(void) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
}

/* Reads a string into buf (escapes kept as the escaped character; enough for key names). */
static void string(char *buf, size_t cap) {
    size_t n = 0;
    if (*p != '"') fail("InvalidInput", "expected a string");
    p++;
    while (*p && *p != '"') {
        char c = *p++;
        if (c == '\\') {
            if (!*p) break;
            c = *p++;
            if (c == 'u') {
                for (int i = 0; i < 4 && *p; i++) p++;
                c = '?';
            }
        }
        if (buf && n + 1 < cap) buf[n++] = c;
    }
    if (*p != '"') fail("InvalidInput", "unterminated string");
    p++;
    if (buf) buf[n] = 0;
}

static double number(void) {
    char *end;
    double v = strtod(p, &end);
    if (end == p) fail("InvalidInput", "expected a value");
    p = end;
    return v;
}

static void value(void);

/* Reads an object member's key and the ':' after it, up to the value. */
static void member_key(char *key, size_t size) {
    ws();
    string(key, size);
    ws();
    if (*p != ':') fail("InvalidInput", "expected ':'");
    p++;
    ws();
}

/* Skips any value; `item` objects report their price and qty. */
static void object(double *price, double *qty) {
    char key[64];
    p++;
    ws();
    if (*p == '}') { p++; return; }
    for (;;) {
        member_key(key, sizeof key);
        if (price && (!strcmp(key, "price") || !strcmp(key, "qty")) && (*p == '-' || (*p >= '0' && *p <= '9'))) {
            double v = number();
            if (!strcmp(key, "price")) *price = v; else *qty = v;
        } else {
            value();
        }
        ws();
        if (*p == ',') { p++; continue; }
        if (*p == '}') { p++; return; }
        fail("InvalidInput", "expected ',' or '}'");
    }
}

static void value(void) {
    if (++depth > 100) fail("InvalidInput", "the input nests too deeply");
    ws();
    if (*p == '{') object(NULL, NULL);
    else if (*p == '[') {
        p++;
        ws();
        if (*p == ']') p++;
        else for (;;) {
            value();
            ws();
            if (*p == ',') { p++; continue; }
            if (*p == ']') { p++; break; }
            fail("InvalidInput", "expected ',' or ']'");
        }
    } else if (*p == '"') string(NULL, 0);
    else if (!strncmp(p, "true", 4)) p += 4;
    else if (!strncmp(p, "false", 5)) p += 5;
    else if (!strncmp(p, "null", 4)) p += 4;
    else number();
    depth--;
}

int main(void) {
    static char input[1 << 20];
    size_t len = fread(input, 1, sizeof input - 1, stdin);
    input[len] = 0;
    p = input;
    double total = 0;
    int lines = 0;
    char key[64];
    ws();
    if (*p != '{') fail("InvalidInput", "the input must be an object");
    p++;
    ws();
    while (*p && *p != '}') {
        member_key(key, sizeof key);
        if (!strcmp(key, "items") && *p == '[') {
            p++;
            ws();
            while (*p && *p != ']') {
                double price = 0, qty = 0;
                ws();
                if (*p != '{') fail("InvalidInput", "each item must be an object");
                object(&price, &qty);
                if (qty < 0) {
                    char cause[64];
                    snprintf(cause, sizeof cause, "item %d has a negative quantity", lines);
                    fail("InvalidItem", cause);
                }
                total += price * qty;
                lines++;
                ws();
                if (*p == ',') p++;
                ws();
            }
            if (*p != ']') fail("InvalidInput", "unterminated items array");
            p++;
        } else {
            value();
        }
        ws();
        if (*p == ',') p++;
        ws();
    }
    total = round(total * 100) / 100;
    printf("{\"total\":%.15g,\"lines\":%d}", total, lines);
    return 0;
}
