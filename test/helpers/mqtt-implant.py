"""A raw MQTT 3.1.1 client that behaves like an implant: no MQTT library, nothing on its command
line. It reads its settings as one JSON line on stdin:
  {"host": ..., "port": ..., "tls": false, "cafile": null, "servername": null,
   "topic": "c2/beacon/<random>", "count": 0 (forever), "interval": 0.2, "payloadBytes": 48}
connects (through getaddrinfo: host may be a name), sends CONNECT, waits for CONNACK, then
publishes base64-looking random payloads (QoS 0) every `interval` seconds, printing "published N"
after each to stdout.
"""
import base64, json, os, socket, ssl, struct, sys, time


def varint(n):
    out = b""
    while True:
        b = n % 128
        n //= 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def mqtt_str(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def main():
    cfg = json.loads(sys.stdin.readline())
    sock = socket.create_connection((cfg["host"], cfg["port"]), timeout=10)
    if cfg.get("tls"):
        ctx = ssl.create_default_context(cafile=cfg.get("cafile"))
        ctx.check_hostname = bool(cfg.get("servername"))
        sock = ctx.wrap_socket(sock, server_hostname=cfg.get("servername") or cfg["host"])
    client_id = "implant-" + os.urandom(3).hex()
    sock.sendall(packet(0x10, mqtt_str("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + mqtt_str(client_id)))
    connack = sock.recv(4)
    if len(connack) < 4 or connack[0] != 0x20 or connack[3] != 0:
        print("no CONNACK", connack, flush=True)
        sys.exit(2)
    print("connected", client_id, flush=True)
    n = 0
    count = cfg.get("count", 0)
    while count == 0 or n < count:
        payload = base64.b64encode(os.urandom(cfg.get("payloadBytes", 48)))
        sock.sendall(packet(0x30, mqtt_str(cfg["topic"]) + payload))
        n += 1
        print("published", n, flush=True)
        time.sleep(cfg.get("interval", 0.2))
    sock.sendall(packet(0xE0, b""))
    sock.close()


main()
