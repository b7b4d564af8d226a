"""Text normalisation: digits, dates, times, decimals, percentages and a few symbols to spoken Chinese.

    normalize_text("今天是2024年3月5日，气温3.5℃，涨了50%。")
        == "今天是二零二四年三月五日，气温三点五摄氏度，涨了百分之五十。"

Rules, applied in this order (each a pure function on the string):
    full-width ASCII -> half-width ("２０２４" -> "2024", "％" -> "%", "，" -> ","), thousands separators
    removed ("1,000" -> "1000");
    dates "2024-03-05", "2024/3/5", "2024.3.5" -> "二零二四年三月五日"; a 4-digit year before 年 is read
    digit by digit ("2024年" -> "二零二四年"), other counts before 年 are cardinals ("3年" -> "三年");
    times "10:05" -> "十点零五分", "8:00" -> "八点", "10:05:30" -> "十点零五分三十秒";
    percentages "50%" -> "百分之五十", "-3.5%" -> "负百分之三点五"; fractions "1/2" -> "二分之一";
    ranges "3-5", "3~5" -> "三到五"; currency "¥5" / "$5" / "€5" -> "五元" / "五美元" / "五欧元";
    units right after a number (℃, °, km, kg, cm, mm, m, g, ml) -> 摄氏度, 度, 公里, 千克, ...;
    decimals "3.5" -> "三点五" (digits after the point one by one: "3.50" -> "三点五零");
    negative numbers "-3" -> "负三";
    integers: cardinals ("12345" -> "一万二千三百四十五", "2000" -> "两千"), but digit by digit when the
    number has a leading zero or 10 or more digits (telephone numbers, codes: "007" -> "零零七");
    a bare "2" before a measure word is "两" ("2个" -> "两个"), but "第2个" -> "第二个".
Characters this module does not handle are left as they are (the front-end reports what it cannot read).
"""
import re
import unicodedata

import cn2an

DIGITS = "零一二三四五六七八九"
# Measure words after which a bare 2 is read 两.
MEASURE_WORDS = ("个", "位", "只", "本", "次", "天", "件", "条", "张", "把", "辆", "名", "种", "双", "对",
                 "家", "台", "年", "岁", "斤", "份", "点", "小时", "分钟", "周", "杯", "碗", "瓶", "块",
                 "元", "人", "间", "层", "部", "句", "样", "场", "所", "篇", "节", "批", "趟", "遍", "倍")
CURRENCY = {"¥": "元", "￥": "元", "$": "美元", "€": "欧元", "£": "英镑"}
UNITS = (("℃", "摄氏度"), ("°C", "摄氏度"), ("°", "度"), ("km", "公里"), ("kg", "千克"), ("cm", "厘米"),
         ("mm", "毫米"), ("ml", "毫升"), ("m", "米"), ("g", "克"))
_NUMBER = r"\d+(?:\.\d+)?"


def digits_to_chinese(digits):
    """Reads a digit string one digit at a time: "2024" -> "二零二四"."""
    return "".join(DIGITS[int(digit)] for digit in digits)


def integer_to_chinese(digits):
    """A cardinal number: "12345" -> "一万二千三百四十五"; 2 as the leading digit of 千/万/亿 is 两."""
    if len(digits) > 1 and digits.startswith("0") or len(digits) >= 10:
        return digits_to_chinese(digits)
    spoken = cn2an.an2cn(digits)
    if spoken.startswith("二") and spoken[1:2] in ("千", "万", "亿"):
        spoken = "两" + spoken[1:]
    return spoken


def number_to_chinese(number):
    """An integer or decimal string, optionally signed: "-3.50" -> "负三点五零"."""
    sign = "负" if number.startswith("-") else ""
    number = number.lstrip("+-")
    whole, _, fraction = number.partition(".")
    spoken = integer_to_chinese(whole) if whole else "零"
    if fraction:
        spoken += "点" + digits_to_chinese(fraction)
    return sign + spoken


def to_half_width(text):
    """Full-width ASCII forms (digits, letters, ％, ：, ，…) as their ASCII counterparts."""
    return "".join(unicodedata.normalize("NFKC", char) if "\uff01" <= char <= "\uff5e" else char
                   for char in text)


def _remove_thousands_separators(text):
    return re.sub(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d])", lambda m: m.group(0).replace(",", ""), text)


def _date(year, month, day):
    return f"{digits_to_chinese(year)}年{integer_to_chinese(str(int(month)))}月{integer_to_chinese(str(int(day)))}日"


def _dates(text):
    def full_date(match):
        year, month, day = match.groups()
        if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
            return match.group(0)
        return _date(year, month, day)

    text = re.sub(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?![\d.])", full_date, text)
    text = re.sub(r"(?<!\d)(\d{4})(?=年(?!代))", lambda m: digits_to_chinese(m.group(1)), text)
    return text


def _times(text):
    def time(match):
        hours, minutes, seconds = match.group(1), match.group(2), match.group(3)
        if int(hours) > 24 or int(minutes) > 59 or (seconds and int(seconds) > 59):
            return match.group(0)
        spoken = ("两" if int(hours) == 2 else integer_to_chinese(str(int(hours)))) + "点"
        if int(minutes) or seconds:
            spoken += ("零" if minutes.startswith("0") and int(minutes) else "") + \
                integer_to_chinese(str(int(minutes))) + "分"
        if seconds:
            spoken += integer_to_chinese(str(int(seconds))) + "秒"
        return spoken

    return re.sub(r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])", time, text)


def _percentages_and_fractions(text):
    text = re.sub(rf"(-?)({_NUMBER})%", lambda m: ("负" if m.group(1) else "") + "百分之" +
                  number_to_chinese(m.group(2)), text)
    text = re.sub(r"(?<![\d/])(\d+)/(\d+)(?![\d/])",
                  lambda m: number_to_chinese(m.group(2)) + "分之" + number_to_chinese(m.group(1)), text)
    return text


def _ranges(text):
    return re.sub(rf"(?<![\d.])({_NUMBER})\s*[-~～—]\s*({_NUMBER})(?![\d.])",
                  lambda m: number_to_chinese(m.group(1)) + "到" + number_to_chinese(m.group(2)), text)


def _currency_and_units(text):
    for symbol, unit in CURRENCY.items():
        text = re.sub(rf"{re.escape(symbol)}\s*({_NUMBER})",
                      lambda m, u=unit: number_to_chinese(m.group(1)) + u, text)
    for symbol, unit in UNITS:
        tail = r"(?![A-Za-z])" if symbol[-1].isalpha() else ""
        text = re.sub(rf"(-?{_NUMBER})\s*{re.escape(symbol)}{tail}",
                      lambda m, u=unit: number_to_chinese(m.group(1)) + u, text)
    return text


def _numbers(text):
    measure = "|".join(sorted(MEASURE_WORDS, key=len, reverse=True))
    text = re.sub(rf"(?<![\d.第])2(?=(?:{measure}))", "两", text)
    text = re.sub(r"(?<![\dA-Za-z.])-(?=\d)", "负", text)
    return re.sub(_NUMBER, lambda m: number_to_chinese(m.group(0)), text)


def normalize_text(text):
    """Spoken-Chinese form of a sentence (see the module docstring for the rules)."""
    text = to_half_width(text)
    text = _remove_thousands_separators(text)
    for rule in (_dates, _times, _percentages_and_fractions, _ranges, _currency_and_units, _numbers):
        text = rule(text)
    return text
