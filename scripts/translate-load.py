#!/usr/bin/env python3
"""Load on POST /models/{id}/translate (not in CI): N client threads for S seconds each, one JSON line per run.

Usage: translate-load.py HOST PORT MODEL_ID IMAGE.png CLIENTS:SECONDS [...]
HONOR=1 makes clients sleep for Retry-After on a 503, as well-behaved clients do.
Prints the status codes seen (+RA: with Retry-After), 200s per second, p50 and p99 of the 200s in ms.
Measure before and after a change in one session on one machine: the client shares its cores.
"""
import http.client
import json
import os
import sys
import threading
import time

HONOR = os.environ.get("HONOR") == "1"
if len(sys.argv) < 6:
    sys.exit(__doc__)
host, port, model, png = sys.argv[1], int(sys.argv[2]), sys.argv[3], open(sys.argv[4],'rb').read()
def run(clients, seconds, query=""):
    results=[]; lock=threading.Lock(); stop=time.time()+seconds
    def worker():
        conn=http.client.HTTPConnection(host,port,timeout=60)
        while time.time()<stop:
            t=time.time()
            try:
                conn.request("POST", f"/models/{model}/translate{query}", body=png, headers={"Content-Type":"image/png"})
                r=conn.getresponse(); r.read(); st=r.status; ra=r.getheader("Retry-After")
            except Exception as e:
                st=-1; ra=None; conn=http.client.HTTPConnection(host,port,timeout=60)
            with lock: results.append((st, time.time()-t, ra))
            if st==503 and ra and HONOR: time.sleep(float(ra))
    ts=[threading.Thread(target=worker) for _ in range(clients)]
    t0=time.time(); [t.start() for t in ts]; [t.join() for t in ts]; el=time.time()-t0
    ok=[d for s,d,_ in results if s==200]; codes={}
    for s,_,ra in results: codes[f"{s}{'+RA' if ra else ''}"]=codes.get(f"{s}{'+RA' if ra else ''}",0)+1
    q=lambda p: sorted(ok)[min(len(ok)-1,int(p*len(ok)))] if ok else None
    print(json.dumps({"clients":clients,"seconds":round(el,1),"codes":codes,"ok_per_s":round(len(ok)/el,2),"p50_ms":round(q(0.5)*1000,1) if ok else None,"p99_ms":round(q(0.99)*1000,1) if ok else None}))
for spec in sys.argv[5:]:
    c,s=spec.split(':'); run(int(c), float(s))
