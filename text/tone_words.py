"""Word lists for the tone rules of `text/sandhi.py`: general Mandarin dictionaries, not corpus fixes.

NEUTRAL_TONE_WORDS are common words whose last syllable is read in the neutral tone in standard Mandarin
(after the list of obligatory neutral-tone words used for the Putonghua proficiency test, trimmed of words
that also have a common reading with a full tone, such as 大意, 地道 or 过去).
"""

NEUTRAL_TONE_WORDS = frozenset("""
爱人 巴结 巴掌 包袱 包涵 本事 比方 鼻子 扁担 别扭 拨弄 簸箕 补丁 部分 裁缝 财主 苍蝇 差事 柴火 称呼
出息 畜生 窗户 刺猬 凑合 聪明 答应 打扮 打点 打发 打量 打算 打听 大夫 耽搁 耽误 灯笼 嘀咕 点心 东家
东西 动静 动弹 豆腐 嘟囔 队伍 对付 多么 耳朵 风筝 福气 甘蔗 高粱 告诉 胳膊 疙瘩 跟头 工夫 功夫 姑娘
骨头 故事 怪物 关系 官司 规矩 闺女 哈欠 含糊 合同 和尚 核桃 红火 厚道 狐狸 胡琴 胡同 糊涂 葫芦 护士
伙计 机灵 记号 记性 家伙 架势 嫁妆 见识 将就 讲究 结实 街坊 戒指 精神 舅舅 觉得 咳嗽 客气 口袋 窟窿
快活 困难 阔气 喇叭 喇嘛 懒得 唠叨 老婆 老实 老爷 累赘 篱笆 力气 厉害 利落 利索 连累 凉快 粮食 铃铛
萝卜 骆驼 麻烦 麻利 马虎 码头 买卖 馒头 忙活 冒失 眉毛 媒人 迷糊 棉花 苗条 名堂 名字 明白 模糊 蘑菇
木匠 木头 那么 脑袋 能耐 念叨 念头 娘家 奴才 女婿 暖和 疟疾 牌楼 盘算 朋友 琵琶 枇杷 屁股 便宜 漂亮
婆家 欺负 亲戚 勤快 清楚 拳头 热闹 认识 扫帚 商量 上司 烧饼 少爷 舌头 什么 生意 牲口 师父 师傅 石匠
石榴 石头 时候 实在 拾掇 使唤 事情 收拾 首饰 舒服 舒坦 算计 算盘 岁数 太阳 特务 挑剔 跳蚤 笤帚 头发
唾沫 挖苦 玩意 晚上 尾巴 委屈 位置 稳当 窝囊 稀罕 媳妇 喜欢 下巴 先生 相声 消息 小气 笑话 心思 新鲜
行李 休息 秀才 秀气 学问 衙门 哑巴 胭脂 眼睛 秧歌 吆喝 妖精 钥匙 衣服 衣裳 意思 应酬 冤枉 月饼 月亮
云彩 运气 在乎 早上 怎么 扎实 眨巴 张罗 丈夫 丈人 账房 招呼 招牌 折腾 这么 枕头 芝麻 知识 指甲 指头
主意 转悠 庄稼 壮实 状元 字号 自在 祖宗 嘴巴 作坊 琢磨 芍药 玻璃 葡萄 蛤蟆 喉咙 蚂蚱 凤凰 鸳鸯 邋遢
嘱咐 吩咐 佩服 亲家 外甥 妯娌 姐夫 弟兄 兄弟 伯伯 叔叔 姑姑 婶婶 吓唬 含糊 哆嗦 啰嗦 罗嗦 似的
""".split())

# Words ending in 子 whose 子 keeps its full tone (zǐ: "son, person, seed, particle").
FULL_TONE_ZI_WORDS = frozenset("""
男子 女子 分子 原子 电子 量子 粒子 离子 质子 中子 因子 孔子 老子 孟子 庄子 君子 天子 王子 太子 公子
弟子 孝子 才子 学子 游子 赤子 瓜子 莲子 石子 棋子 卵子 精子 孢子 亲子 长子 次子 父子 母子 夫子 诸子
独生子 臣子 世子 舟子 浪子 骄子 仔子
""".split())

# Words ending in 头 whose 头 is the neutral-tone suffix (not "head"/"top").
NEUTRAL_TOU_WORDS = frozenset("""
骨头 舌头 石头 木头 馒头 枕头 拳头 指头 念头 码头 跟头 罐头 丫头 锄头 甜头 苦头 看头 想头 盼头 来头
奔头 个头 里头 外头 前头 后头 上头 下头 老头 风头 浪头 由头 对头 日头 块头 砖头 芋头 窝头 斧头
""".split())

# Sentence particles: neutral tone as a word of their own (吗 呢 吧 ...).
PARTICLES = frozenset("吗呢吧啊呀哇哪啦嘛哟喽呗咯么哦啰")
# Structural and aspect particles by jieba part of speech: 的/地/得 (uj, uv, ud), 了 (ul), 着 (uz), 过 (ug).
PARTICLE_TAGS = {"的": ("uj",), "地": ("uv",), "得": ("ud",), "了": ("ul", "y"), "着": ("uz",), "过": ("ug",)}

# Reduplicated verbs whose second syllable keeps its tone: onomatopoeia (哈哈, 哼哼, 嘟嘟).
ONOMATOPOEIA_CHARS = frozenset("哈呵嘻嘿哼嘟哇咚叮嗡呜啪砰咕噜唧喳哗嘣嘀嗒咩喵汪吱咯嘎轰隆")
# Reduplicated nouns read with two full tones: distributive "every ..." (人人, 天天, 家家, 年年).
DISTRIBUTIVE_CHARS = frozenset("人天年月日家户处层个次样事时代世岁句条件张本位步声字片点滴句篇场回")

# Directional complements: 来/去 after these in a verb is neutral (回来, 出去, 拿出来).
DIRECTIONAL_CHARS = frozenset("上下进出回过起开")

# Words whose 儿 is a syllable of its own (ér, "child"), not the erhua suffix.
NOT_ERHUA_WORDS = frozenset("""
婴儿 女儿 儿子 男儿 幼儿 孤儿 健儿 宠儿 胎儿 患儿 少儿 小儿 孩儿 侄儿 孙儿 乞儿 妻儿 犬儿 混血儿 新生儿
婴幼儿 幸运儿 弄潮儿 宁馨儿 流浪儿 留守儿 托儿 一儿 儿童 骄儿 娇儿 养儿 生儿 育儿 爱儿 我儿 吾儿 大儿 二儿
""".split())
