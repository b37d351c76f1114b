"""A webhook that prints the execution status events wasmstep delivers to it (one JSON line
each) and answers 200. usage: python3 examples/triggers/webhook.py [PORT]   (default 9000)"""
import http.server
import json
import sys


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        event = json.loads(body)
        d = event["detail"]
        print(json.dumps({"id": event["id"], "status": d["status"], "execution": d["executionArn"]}), flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
http.server.HTTPServer(("127.0.0.1", port), Hook).serve_forever()
