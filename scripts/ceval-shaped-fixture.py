#!/usr/bin/env python3
# Writes C-Eval-shaped data (val and dev CSVs, 1,346 val items over 52 subjects, like
# C-Eval val) into ./ceval, for measurements that need the real suite's size, not its text.
import csv, os
subjects = [f"subject_{i:02d}" for i in range(52)]
total = 1346
os.makedirs("ceval/val", exist_ok=True); os.makedirs("ceval/dev", exist_ok=True)
n = 0
for si, s in enumerate(subjects):
    count = total // 52 + (1 if si < total % 52 else 0)
    with open(f"ceval/val/{s}_val.csv", "w", newline="") as f:
        w = csv.writer(f); w.writerow(["id","question","A","B","C","D","answer"])
        for i in range(count):
            w.writerow([i, f"第{n}题：以下哪一项是正确的？（{s}）", "甲", "乙", "丙", "丁", "ABCD"[n % 4]]); n += 1
    with open(f"ceval/dev/{s}_dev.csv", "w", newline="") as f:
        w = csv.writer(f); w.writerow(["id","question","A","B","C","D","answer","explanation"])
        for i in range(5):
            w.writerow([i, f"示例{i}", "甲", "乙", "丙", "丁", "A", "因为"])
print(n)
