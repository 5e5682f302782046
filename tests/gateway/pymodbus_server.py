#!/usr/bin/python3
"""A Modbus/TCP server from Debian's python3-pymodbus (an implementation not written here), serving
the register map of a JSON file on 127.0.0.1, with optional scheduled value changes.

  pymodbus_server.py --port P --map map.json --duration SECONDS

map.json: {"unit_id": 1, "size": 256,
           "holding_registers": {"0": [500]}, "input_registers": {...}, "coils": {...},
           "discrete_inputs": {...},
           "schedule": [{"at_s": 4, "table": "holding_registers", "address": 0, "values": [9000]}]}
Addresses are 0-based protocol addresses (zero_mode).
"""
import argparse
import asyncio
import json
import logging

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncTcpServer

FC = {"coils": 1, "discrete_inputs": 2, "holding_registers": 3, "input_registers": 4}


def block(spec, size):
    values = [0] * size
    for addr, vals in spec.items():
        for i, v in enumerate(vals if isinstance(vals, list) else [vals]):
            values[int(addr) + i] = int(v)
    return ModbusSequentialDataBlock(0, values)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("--duration", type=float, required=True)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    m = json.load(open(a.map))
    size = int(m.get("size", 256))
    slave = ModbusSlaveContext(di=block(m.get("discrete_inputs", {}), size),
                               co=block(m.get("coils", {}), size),
                               hr=block(m.get("holding_registers", {}), size),
                               ir=block(m.get("input_registers", {}), size), zero_mode=True)
    context = ModbusServerContext(slaves={int(m.get("unit_id", 1)): slave}, single=False)
    server = await StartAsyncTcpServer(context, address=("127.0.0.1", a.port), defer_start=True)

    async def schedule():
        t0 = asyncio.get_running_loop().time()
        for ev in sorted(m.get("schedule", []), key=lambda e: e["at_s"]):
            await asyncio.sleep(max(0.0, t0 + ev["at_s"] - asyncio.get_running_loop().time()))
            slave.setValues(FC[ev["table"]], int(ev["address"]), [int(v) for v in ev["values"]])

    sched = asyncio.ensure_future(schedule())
    try:
        await asyncio.wait_for(server.serve_forever(), timeout=a.duration)
    except asyncio.TimeoutError:
        pass
    finally:
        sched.cancel()
        await server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
