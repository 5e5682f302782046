#!/usr/bin/python3
"""End-to-end tests of physguard-gateway with real parts, all on 127.0.0.1 (ctest label `gateway`).

  run_gateway_test.py --gateway G --plc-sim S --broker mosquitto --sub mosquitto_sub \
                      --configs DIR --work DIR  plant|pymodbus|faults

plant     mosquitto + physguard-plc-sim (water-treatment plant, 20x real time) + gateway; the
          plant's own Oldsmar attack and register injections; a real MQTT subscriber checks the
          expected findings arrive, none before the first attack, and none is lost.
pymodbus  the gateway against Debian's python3-pymodbus server with a register map from a file.
faults    the PLC crashes and restarts, the broker restarts, a register returns garbage, and a
          second gateway runs with no broker and a tiny queue: the gateway keeps running, reports
          each event, and every finding it produced is delivered or counted as dropped.

Every process is started by this script, bounded in time (its own --duration and a kill deadline)
and stopped by it (finally / atexit / SIGTERM), so nothing is left behind.
"""
import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

EPOCH_US = 1612483200 * 1000000  # the plant's clock: 2021-02-05T00:00Z
ATTACK1_S = 1 * 86400 + 13.5 * 3600  # the plant's scripted Oldsmar attack (plant seconds)
SITE = "waterworks"
SUB_ID = "physguard-test-sub"

PROCS = []


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def stop(p, sig=signal.SIGTERM, wait_s=5.0):
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def stop_all():
    for p in reversed(PROCS):
        try:
            stop(p, wait_s=3.0)
        except Exception:  # noqa: BLE001 - cleanup must go on
            pass
    PROCS.clear()


atexit.register(stop_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))


def start(name, argv, work, **kw):
    out = open(os.path.join(work, f"{name}.out"), "ab")
    err = open(os.path.join(work, f"{name}.err"), "ab")
    p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, **kw)
    p.name = name
    PROCS.append(p)
    return p


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


class Env:
    def __init__(self, args, name):
        self.a = args
        self.work = os.path.join(args.work, name)
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        self.broker = None

    def path(self, f):
        return os.path.join(self.work, f)

    # ---- broker -----------------------------------------------------------------------------
    def start_broker(self, port):
        conf = self.path("mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\n"
                    "allow_anonymous true\n"
                    "persistence true\n"
                    f"persistence_location {self.work}/\n"
                    "autosave_interval 1\n"
                    "max_queued_messages 100000\n"
                    "log_type error\nlog_type warning\nlog_type notice\n")
        self.broker = start("mosquitto", [self.a.broker, "-c", conf], self.work)
        wait_port(port)
        return self.broker

    def stop_broker(self):
        stop(self.broker)  # SIGTERM: the broker saves its persistence file (sessions, queues)
        self.broker = None

    # ---- subscriber -------------------------------------------------------------------------
    def start_sub(self, port):
        """mosquitto_sub, QoS 1, persistent session (-c): it gets what was queued while away."""
        sub = start("mosquitto_sub", [self.a.sub, "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                                      "-c", "-i", SUB_ID, "-v", "-t", f"physguard/{SITE}/#"],
                    self.work)
        # Ready when a probe message comes through.
        deadline = time.monotonic() + 10
        pub = os.path.join(os.path.dirname(self.a.sub), "mosquitto_pub")
        while time.monotonic() < deadline:
            subprocess.run([pub, "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                            "-t", f"physguard/{SITE}/_probe", "-m", "probe"], timeout=5,
                           check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.2)
            if "_probe" in open(self.path("mosquitto_sub.out"), errors="replace").read():
                return sub
        raise RuntimeError("mosquitto_sub did not receive the probe")

    def received(self):
        """Findings received by the subscriber, by seq (duplicates allowed: QoS 1)."""
        got = {}
        status = []
        for line in open(self.path("mosquitto_sub.out"), errors="replace"):
            topic, _, payload = line.strip().partition(" ")
            if topic.endswith("/_probe"):
                continue
            obj = json.loads(payload)
            if topic.endswith("/_gateway/status"):
                status.append(obj)
                continue
            channel = topic.rsplit("/", 1)[1]
            assert channel == obj["channel_name"], f"topic {topic} carries channel {obj['channel_name']}"
            got[obj["seq"]] = obj
        return got, status

    # ---- PLC simulator and gateway ------------------------------------------------------------
    def start_plc(self, port, start_s, duration_s, injections=(), speed=20):
        argv = [self.a.plc_sim, "--port", str(port), "--duration", str(duration_s),
                "--speed", str(speed), "--start-s", str(start_s)]
        for inj in injections:
            argv += ["--inject", inj]
        p = start("plc_sim", argv, self.work)
        wait_port(port)
        return p

    def gateway_config(self, base, modbus_port, mqtt_port, out="gateway.json", **mqtt):
        with open(os.path.join(self.a.configs, base)) as f:
            cfg = json.load(f)
        cfg["modbus"]["port"] = modbus_port
        cfg["sinks"]["mqtt"]["port"] = mqtt_port
        cfg["sinks"]["mqtt"].update(mqtt)
        path = self.path(out)
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        return path

    def run_gateway(self, config, duration_s, name="gateway", during=None):
        """Runs the gateway for duration_s; `during(t0)` runs meanwhile (fault injection)."""
        gw = start(name, [self.a.gateway, "--config", config, "--duration", str(duration_s)], self.work)
        t0 = time.monotonic()
        if during:
            during(t0)
        try:
            rc = gw.wait(timeout=duration_s + 20)
        except subprocess.TimeoutExpired:
            stop(gw, signal.SIGKILL)
            raise RuntimeError("gateway did not stop within its --duration (+20 s)")
        findings = [json.loads(l) for l in open(self.path(f"{name}.out")) if l.strip()]
        summary = None
        for line in open(self.path(f"{name}.err")):
            if line.startswith("summary "):
                summary = json.loads(line[len("summary "):])
        return rc, findings, summary


def plant_s(f):
    return (f["time_us"] - EPOCH_US) / 1e6


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    log("ok: " + msg)


def no_loss(findings, summary, got):
    """Every finding the gateway produced reached the subscriber (or was counted as dropped)."""
    produced = {f["seq"] for f in findings}
    check(summary is not None, "the gateway printed its summary")
    check(len(produced) == summary["findings"] == len(findings),
          f"stdout holds all {summary['findings']} findings, numbered 0..N-1 without gaps "
          f"({len(findings)} lines)")
    check(produced == set(range(len(findings))), "sequence numbers are 0..N-1")
    missing = produced - set(got)
    check(len(missing) <= summary["mqtt_dropped"] and summary["mqtt_pending"] == 0,
          f"MQTT: {len(produced) - len(missing)} of {len(produced)} received, "
          f"{summary['mqtt_dropped']} counted as dropped, {summary['mqtt_pending']} pending")
    for s in got.values():
        f = findings[s["seq"]]
        assert f == s, f"MQTT payload differs from stdout for seq {s['seq']}"


# ---- scenarios ------------------------------------------------------------------------------
def scenario_plant(a):
    env = Env(a, "plant")
    mb, mq = free_port(), free_port()
    env.start_broker(mq)
    env.start_sub(mq)
    start_s = ATTACK1_S - 240  # 240 plant seconds (12 s) without attack, then the Oldsmar attack
    # Register-level injections during the attack part: LT1 jumps 0.5 m for 15 s.
    env.start_plc(mb, start_s, 40, injections=[f"{ATTACK1_S + 60}:{ATTACK1_S + 75}:level_offset"])
    cfg = env.gateway_config("water_treatment.json", mb, mq)
    rc, findings, summary = env.run_gateway(cfg, 22)
    time.sleep(1.0)
    got, status = env.received()
    stop_all()
    log(f"{len(findings)} findings, summary {summary}")
    check(rc == 0, "gateway exit code 0")
    check(summary["processed_polls"] >= 300, f"{summary['processed_polls']} PLC scans processed")
    early = [f for f in findings + list(got.values()) if plant_s(f) < ATTACK1_S]
    check(not early, f"no finding before the first attack (plant time < {ATTACK1_S:.0f} s): {early}")
    check(any(f["detector"] == "setpoint_envelope" and f["state"] == "alarm" and
              f["channel_name"] == "NaOH_setpoint" and ATTACK1_S <= plant_s(f) <= ATTACK1_S + 5
              for f in got.values()),
          "Oldsmar setpoint attack: setpoint_envelope alarm on physguard/waterworks/NaOH_setpoint within 5 s")
    check(any(f["channel_name"] == "LT1" and f["detector"] == "rate" and f["state"] == "alarm" and
              ATTACK1_S + 60 <= plant_s(f) <= ATTACK1_S + 62 for f in got.values()),
          "LT1 injection: rate alarm on physguard/waterworks/LT1 within 2 s")
    check(any(f["channel_name"] == "LT1_float" and f["detector"] == "cusum" and f["state"] == "alarm" and
              ATTACK1_S + 60 <= plant_s(f) <= ATTACK1_S + 62 for f in got.values()),
          "LT1 injection: Kalman innovation CUSUM alarm on LT1_float within 2 s")
    check(all(f["kind"] != "communication" for f in got.values()), "no communication finding")
    no_loss(findings, summary, got)
    check(any(s["findings"] == summary["findings"] for s in status), "status message on _gateway/status")


def scenario_pymodbus(a):
    env = Env(a, "pymodbus")
    try:
        subprocess.run(["/usr/bin/python3", "-c", "import pymodbus.server"], check=True,
                       stderr=subprocess.DEVNULL, timeout=30)
    except Exception:  # noqa: BLE001
        log("SKIP: python3-pymodbus is not importable by /usr/bin/python3")
        sys.exit(77)
    mb, mq = free_port(), free_port()
    env.start_broker(mq)
    env.start_sub(mq)
    server = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pymodbus_server.py")
    start("pymodbus", ["/usr/bin/python3", server, "--port", str(mb), "--duration", "30",
                       "--map", os.path.join(a.configs, "pymodbus_map.json")], env.work)
    wait_port(mb, 20)
    cfg = env.gateway_config("pymodbus_gateway.json", mb, mq)
    t_start = time.time()
    rc, findings, summary = env.run_gateway(cfg, 8)
    time.sleep(1.0)
    got, _ = env.received()
    stop_all()
    log(f"{len(findings)} findings: {[(f['channel_name'], f['detector'], f['state']) for f in findings]}")
    check(rc == 0, "gateway exit code 0")
    check(summary["processed_polls"] >= 30 and summary["poll_failures"] == 0,
          f"{summary['processed_polls']} polls against pymodbus, no failures")
    check(summary["block_errors"] == 0, "every block readable")
    # The server changes HR0 from 500 to 9000 four seconds after it starts (map's schedule).
    alarms = [f for f in got.values() if f["state"] == "alarm"]
    check(len(alarms) == 1 and alarms[0]["channel_name"] == "flow_setpoint" and
          alarms[0]["detector"] == "range",
          "exactly one alarm: the scheduled change of flow_setpoint (HR0 500 -> 9000); the "
          "float32 (both word orders), int16, int32, coil and discrete-input channels decode to "
          "their expected values (their range / command-response checks stay quiet)")
    check(alarms[0]["time_us"] / 1e6 >= t_start + 2.0, "and not before the change")
    no_loss(findings, summary, got)


def scenario_faults(a):
    env = Env(a, "faults")
    mb, mq = free_port(), free_port()
    env.start_broker(mq)
    env.start_sub(mq)
    speed = 20
    start_s = 2 * 86400.0  # attack-free morning of day 2
    plc = [env.start_plc(mb, start_s, 60)]
    cfg = env.gateway_config("water_treatment.json", mb, mq)
    marks = {}

    def during(t0):
        def at(t):
            time.sleep(max(0.0, t0 + t - time.monotonic()))
        at(4)
        log("fault: PLC crashes (SIGKILL)")
        stop(plc[0], signal.SIGKILL)
        at(7)
        restart_s = start_s + 7 * speed  # the PLC comes back with its plant further on
        # ...and garbage in LT1 two to four seconds after the restart, while the broker is away
        g0 = restart_s + 2 * speed + 20
        marks["garbage"] = (g0, g0 + 2 * speed)
        log("fault: PLC restarts")
        plc[0] = env.start_plc(mb, restart_s, 60, injections=[f"{g0}:{g0 + 2 * speed}:garbage"])
        at(8)
        log("fault: broker stops")
        env.stop_broker()
        at(12)
        log("fault: broker restarts")
        env.start_broker(mq)

    rc, findings, summary = env.run_gateway(cfg, 18, during=during)
    time.sleep(3.0)  # mosquitto_sub reconnects (1 s back-off) and receives its queued messages
    got, _ = env.received()
    stop_all()
    log(f"{len(findings)} findings, summary {summary}")
    for f in findings:
        log(f"  {f['seq']:3d} {f['channel_name']:>14} {f['detector']:>16} {f['state']:>8} {f['status']}")
    check(rc == 0, "gateway survived and exited 0")
    comm = [f for f in findings if f["detector"] == "modbus"]
    check([f["state"] for f in comm] == ["alarm", "cleared"],
          "PLC crash: one communication alarm (connection lost), one cleared (connection back)")
    check(comm[0]["kind"] == "communication" and comm[0]["cause"] == "communication" and
          comm[0]["channel"] == 65535 and comm[0]["channel_name"] == "_gateway",
          "the lost connection is a communication finding on channel 65535 (_gateway)")
    check(2.0 <= comm[1]["score"] <= 6.0, f"outage reported as {comm[1]['score']:.2f} s (PLC down ~3 s)")
    check(summary["modbus_connects"] >= 2, f"reconnected ({summary['modbus_connects']} connects)")
    screen = [(f["channel_name"], f["state"]) for f in findings if f["detector"] == "gateway_screen"]
    check(("LT1", "alarm") in screen and ("LT1", "cleared") in screen and
          ("LT1_float", "alarm") in screen and ("LT1_float", "cleared") in screen,
          "garbage register: screen alarm and cleared on LT1 (0xFFFF) and LT1_float (NaN)")
    g = [f for f in findings if f["detector"] == "gateway_screen" and f["state"] == "cleared"]
    check(all(30 <= f["score"] <= 42 for f in g), f"garbage run lengths counted: {[f['score'] for f in g]}")
    check(summary["garbage_samples"] >= 60, f"{summary['garbage_samples']} garbage samples counted")
    check(summary["mqtt_disconnects"] >= 1 and summary["mqtt_connects"] >= 2,
          "broker restart: MQTT disconnect seen and reconnected")
    others = [f for f in findings if f["detector"] not in ("modbus", "gateway_screen")]
    check(not others, f"no detector false alarm from the outage, the restart or the garbage: {others}")
    check(summary["processed_polls"] >= 200, f"kept polling: {summary['processed_polls']} scans processed")
    no_loss(findings, summary, got)
    check(summary["mqtt_dropped"] == 0, "nothing dropped (queue large enough)")

    # A gateway whose broker never comes, with a queue of 2: findings are dropped and counted.
    mb2, mq2 = free_port(), free_port()
    plc2 = env.start_plc(mb2, start_s, 20, injections=[f"{start_s + 40}:{start_s + 60}:garbage",
                                                        f"{start_s + 80}:{start_s + 100}:garbage"])
    cfg2 = env.gateway_config("water_treatment.json", mb2, mq2, out="gateway_nobroker.json",
                              queue_capacity=2)
    rc, findings2, summary2 = env.run_gateway(cfg2, 7, name="gateway_nobroker")
    stop(plc2)
    log(f"no broker: {len(findings2)} findings, summary {summary2}")
    check(rc == 0, "gateway without broker exited 0")
    check(len(findings2) >= 8, "all findings still on stdout")
    # queue: findings + the status message; at exit everything unsent is either dropped or pending
    check(summary2["mqtt_dropped"] + summary2["mqtt_pending"] == summary2["findings"] + 1 and
          summary2["mqtt_pending"] == 2 and summary2["mqtt_acked"] == 0,
          f"bounded queue: {summary2['mqtt_dropped']} dropped + {summary2['mqtt_pending']} pending = "
          f"{summary2['findings']} findings + 1 status, all counted")


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--gateway", "--plc-sim", "--broker", "--sub", "--configs", "--work"):
        ap.add_argument(opt, required=True)
    ap.add_argument("scenario", choices=["plant", "pymodbus", "faults"])
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    t0 = time.monotonic()
    try:
        {"plant": scenario_plant, "pymodbus": scenario_pymodbus, "faults": scenario_faults}[a.scenario](a)
    except AssertionError as e:
        log(f"FAILED: {e}")
        return 1
    finally:
        stop_all()
    log(f"passed in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
