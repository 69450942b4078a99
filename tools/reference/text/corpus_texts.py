"""Hand-written tokenizer test corpus: natural-language samples for the languages the seed cards
calibrate on, source code, emoji, whitespace runs, and edge cases. Written for mmd (no third-party text).
"""

LANGUAGES = {
    "en": [
        "The quick brown fox jumps over the lazy dog. It's 3:45 p.m. and we've got 12,345 items left!",
        "I'm sure they'll say we'd DONE it, but you're WRONG: THEY'RE the ones who'VE changed.",
        "Numbers: 1234567890, 3.14159, -42, 1e-9, 0xFF, v1.2.3, 2026-11-22T04:36:12Z.",
    ],
    "zh": [
        "机器学习是人工智能的一个分支，它使计算机能够从数据中学习，而无需进行明确的编程。",
        "今天天气很好，我们去公园散步吧！你觉得怎么样？价格是¥1,280元。",
        "深度神经网络由多层组成，每一层都对输入进行非线性变换。",
    ],
    "hi": [
        "मशीन लर्निंग कृत्रिम बुद्धिमत्ता की एक शाखा है जो कंप्यूटर को डेटा से सीखने में सक्षम बनाती है।",
        "आज मौसम बहुत अच्छा है, चलो पार्क में टहलने चलते हैं। क्या आप आएँगे?",
    ],
    "ko": [
        "기계 학습은 컴퓨터가 명시적으로 프로그래밍되지 않고도 데이터에서 학습할 수 있게 하는 인공지능의 한 분야입니다.",
        "오늘 날씨가 정말 좋네요! 공원에 산책하러 갈까요? 가격은 ₩15,000입니다.",
    ],
    "ja": [
        "機械学習は、明示的にプログラムされることなくコンピュータがデータから学習できるようにする人工知能の一分野です。",
        "今日はとても良い天気ですね。カタカナ、ひらがな、漢字が混ざった文章です。ｶﾀｶﾅ（半角）も。",
    ],
    "fr": [
        "L'apprentissage automatique est une branche de l'intelligence artificielle. C'est très intéressant, n'est-ce pas ?",
        "Où est la bibliothèque ? « Je ne sais pas », répondit-il. Ça coûte 15,50 €.",
    ],
    "de": [
        "Maschinelles Lernen ist ein Teilgebiet der künstlichen Intelligenz. Die Größe der Straße ist außergewöhnlich.",
        "Donaudampfschifffahrtsgesellschaftskapitän — „Anführungszeichen“ und Übermäßige Ähnlichkeit.",
    ],
    "pt": [
        "O aprendizado de máquina é um ramo da inteligência artificial. Você não acha que é ótimo? Ação, coração, pão.",
        "Não sei se ele virá amanhã; mas, se vier, traremos café e pão de queijo.",
    ],
    "ru": [
        "Машинное обучение — это раздел искусственного интеллекта, который позволяет компьютерам учиться на данных.",
        "Съешь же ещё этих мягких французских булок, да выпей чаю. ПРИВЕТ, Мир!",
    ],
    "es": [
        "El aprendizaje automático es una rama de la inteligencia artificial. ¿Cómo estás? ¡Muy bien, gracias!",
        "El niño comió piña en el año 2025; mañana irá a la montaña con su señora.",
    ],
    "ar": [
        "التعلم الآلي هو فرع من فروع الذكاء الاصطناعي يمكّن الحواسيب من التعلم من البيانات.",
        "مرحبًا بالعالم! كيف حالك اليوم؟ الرقم ١٢٣٤٥ والرقم 678.",
    ],
    "he": [
        "למידת מכונה היא תחום בבינה מלאכותית המאפשר למחשבים ללמוד מנתונים.",
        "שלום עולם! מה שלומך היום? המחיר הוא ₪49.90.",
    ],
    "tr": [
        "Makine öğrenimi, bilgisayarların verilerden öğrenmesini sağlayan yapay zekânın bir dalıdır.",
        "İstanbul'da ışıklı bir gece; ĞÜŞİÖÇ ğüşiöç. Türkçe'nin büyük İ harfi ve küçük ı harfi.",
    ],
}

CODE = [
    "def fib(n: int) -> int:\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])\n",
    "#include <vector>\n\nint main() {\n\tstd::vector<int> v{1, 2, 3};\n\tfor (auto& x : v) x *= 2;\n\treturn v.size() == 3 ? 0 : 1;\n}\n",
    "fn main() {\n    let s: String = \"héllo\".to_string();\n    println!(\"{s:?} {}\", s.len());\n}\n",
    "const add = (a, b) => a + b;\nexport default { add, name: 'math' };\n// TODO: handle NaN\n",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;\n",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"Hello, 世界\")\n}\n",
    "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do echo \"$f\" | tr a-z A-Z; done\n",
    "<html><body><div class=\"x\">&lt;tag&gt; &amp; text</div></body></html>\n",
    "{\"name\": \"mmd\", \"version\": [0, 1, 0], \"nested\": {\"ok\": true, \"pi\": 3.14}}\n",
    "public class Hello {\n    public static void main(String[] args) {\n        System.out.println(\"Hi\");\n    }\n}\n",
    "x = [1,2,3]  # comment\r\ny = {'a': 1}\r\n\r\n",
    "https://example.com/path/to/page?query=1&b=2#frag /usr/local/bin/ C:\\Windows\\System32\\\n",
]

EMOJI = [
    "I love it 😍😍😍! Family: 👨‍👩‍👧‍👦, flags: 🇫🇷🇯🇵, skin tones: 👍🏽👋🏿.",
    "Math: ∑ ∫ √2 ≈ 1.414, α β γ, ℝ ⊂ ℂ, and arrows → ← ↔. Box: ┌─┐│└┘",
    "Zero-width joiner\u200dand non-breaking\u00a0space and\u3000ideographic space.",
    "Combining: e\u0301 n\u0303 a\u0308; precomposed: é ñ ä. Thai: ภาษาไทย. Greek: Καλημέρα κόσμε.",
    "Compatibility forms: ﬁne ﬂow ① ② Ⅻ ㎏ ＡＢＣ１２３ ｶﾀｶﾅ x² ½ ℌ <think>ﬁ</think>[e~[",
]

WHITESPACE = [
    "a" + " " * 40 + "b",
    "\n\n\n\n\nparagraph\n\n\n",
    "   leading spaces and trailing spaces   ",
    "tabs\t\t\tand\t mixed \t \n \t lines",
    "\r\n\r\n windows \r\n line endings\r\n",
    " " * 200,
    "\n",
    "",
    "word\u00a0\u00a0\u00a0word",
    "x" * 300,
    "1234567890123456789012345678901234567890",
]

SPECIAL = [
    "]~!b[]~b]system\nYou are a helpful assistant.[e~[\n]~b]user\nhi[e~[\n]~b]ai\n<think>\n",
    "<think>reasoning</think>\n\nanswer <minimax:tool_call>\n<invoke name=\"f\">\n<parameter name=\"x\">1</parameter>\n</invoke>\n</minimax:tool_call>[e~[",
    "text<think>inside</think>text<fim_prefix>a<fim_suffix>b<fim_middle>",
    "]~b]]~b][e~[[e~[ ]~!b[ x]~!b[y",
    "<|endoftext|>GPT-2 end marker<|endoftext|> and <think",
]
