"""The batch's index page: ``reports/<period>/index.html``, Chinese, offline.

Every report of the batch with title, unit, level, status, duration and link, then the other
reports already in the folder. Rewritten (atomically) after each report, so the page is
useful while a batch is still running.
"""

from __future__ import annotations

import html as _html
import os
import uuid
from pathlib import Path

from casework.analysis import periods
from casework.base.errors import CaseworkError
from casework.run.report import now_iso


def write_index(period_dir: Path, results: list, *, period: str, batch_id: str = "") -> Path:
    """Write ``reports/<period>/index.html`` (Chinese, offline): every report of this batch with
    title, unit, status, duration and link, then other reports already in the folder.

    The page is written to a temporary file and renamed into place.
    """
    period_dir = Path(period_dir)
    e = _html.escape
    rows = []
    seen = set()
    for r in results:
        name = Path(r.html).name if r.html else None
        seen.add(f"{r.template}_{r.unit}.html")
        link = f'<a href="{e(name, quote=True)}">{e(r.title_zh or r.template)}</a>' if name else e(r.title_zh or r.template)
        if r.ok:
            status = '<span class="ok">成功</span>'
            detail = f"{r.html_bytes / 1024:,.0f} KB"
        else:
            err = r.error or {}
            cell = f"第 {err.get('cell')} 个单元格：" if err.get("cell") is not None else ""
            src = f"（{e(err.get('source') or '')}）" if err.get("source") else ""
            status = '<span class="bad">失败</span>'
            detail = f"{e(cell)}{src}{e(str(err.get('ename', '')))}：{e(str(err.get('evalue', ''))[:300])}"
        rows.append(f"<tr><td>{link}</td><td>{e(r.template)}</td><td>{e(r.unit_label or r.unit)}</td>"
                    f"<td>{e('内部' if r.level == 'internal' else '通报/外发')}</td><td>{status}</td>"
                    f'<td class="num">{r.duration_s:,.1f} 秒</td><td>{detail}</td></tr>')
    others = sorted(p.name for p in period_dir.glob("*.html") if p.name != "index.html" and p.name not in seen)
    other_rows = "".join(f'<li><a href="{e(n, quote=True)}">{e(n)}</a></li>' for n in others)
    try:
        plabel = periods.parse(period).label_zh
    except CaseworkError:
        plabel = period
    n_ok = sum(r.ok for r in results)
    n_bad = len(results) - n_ok
    body = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{e(plabel)}分析报告目录</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif; margin: 0; background: #f4f6f8; color: #1f2d3d; }}
main {{ max-width: 1100px; margin: 0 auto; background: #fff; padding: 28px 40px; min-height: 100vh; }}
h1 {{ border-bottom: 3px solid #2f5d8a; padding-bottom: .3em; }}
table {{ border-collapse: collapse; width: 100%; font-size: .92rem; }}
th, td {{ border-bottom: 1px solid #d9dee5; padding: .4em .6em; text-align: left; vertical-align: top; }}
th {{ background: #eef2f6; }} td.num {{ text-align: right; white-space: nowrap; }}
.ok {{ color: #1e8449; font-weight: bold; }} .bad {{ color: #c0392b; font-weight: bold; }}
.meta {{ color: #5f6b7a; font-size: .88rem; }}
</style></head>
<body><main>
<h1>{e(plabel)}分析报告</h1>
<p class="meta">共 {len(results):,} 份报告：成功 {n_ok:,} 份，失败 {n_bad:,} 份。批次 {e(batch_id)}，更新于 {e(now_iso())}。运行日志见 batch_log.jsonl。</p>
<table><thead><tr><th>报告</th><th>模板</th><th>单位</th><th>密级</th><th>状态</th><th>用时</th><th>说明</th></tr></thead>
<tbody>
{''.join(rows)}
</tbody></table>
{('<h2>本目录中的其他报告</h2><ul>' + other_rows + '</ul>') if other_rows else ''}
</main></body></html>
"""
    path = period_dir / "index.html"
    tmp = period_dir / f".index-{os.getpid()}-{uuid.uuid4().hex[:6]}.html"
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, path)
    return path


__all__ = ["write_index"]
