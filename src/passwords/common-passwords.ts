/**
 * A shipped blocklist, because NIST SP 800-63B §3.1.1.2 asks to refuse "commonly-used, expected, or compromised"
 * passwords (R-PWD-7 in docs/requirements.md): about 1,000 entries from well-known leaked-password top lists, their
 * common variants and this service's name, compiled offline. Compare an NFKC-normalized, lower-cased candidate.
 * Entries under 8 characters never match (the length check runs first); they are kept to mirror the sources.
 */
const LIST = `
123456 password 12345678 qwerty 123456789 12345 1234 111111 1234567 dragon 123123 baseball abc123 football
monkey letmein 696969 shadow master 666666 qwertyuiop 123321 mustang 1234567890 michael 654321 superman
1qaz2wsx 7777777 121212 000000 qazwsx 123qwe killer trustno1 jordan jennifer zxcvbnm asdfgh hunter buster
soccer harley batman andrew tigger sunshine iloveyou 2000 charlie robert thomas hockey ranger daniel starwars
klaster 112233 george computer michelle jessica pepper 1111 zxcvbn 555555 11111111 131313 freedom 777777 pass
maggie 159753 aaaaaa ginger princess joshua cheese amanda summer love ashley nicole chelsea biteme matthew
access yankees 987654321 dallas austin thunder taylor matrix mobilemail mom monitor monitoring montana moon
moscow william corvette hello martin heather secret merlin diamond 1234qwer gfhjkm hammer silver 222222
88888888 anthony justin test bailey q1w2e3r4t5 patrick internet scooter orange 11111 golfer cookie richard
samantha bigdog guitar jackson whatever mickey chicken sparky snoopy maverick phoenix camaro peanut morgan
welcome falcon cowboy ferrari samsung andrea smokey steelers joseph mercedes dakota arsenal eagles melissa
boomer booboo spider nascar monster tigers yellow xxxxxx 123123123 gateway marina diablo bulldog qwer1234
compaq purple hardcore banana junior hannah 123654 porsche lakers iceman money cowboys 987654 london tennis
999999 ncc1701 coffee scooby 0000 miller boston q1w2e3r4 brandon yamaha chester mother forever johnny edward
333333 oliver redsox player nikita knight fender barney midnight please brandy chicago badboy slayer rangers
charles angel flower rabbit wizard bigdick jasper enter rachel chris steven winner adidas victoria natasha
1q2w3e4r jasmine winter prince panties marine ghbdtn fishing cocacola casper james 232323 raiders 888888
marlboro gandalf asdfasdf crystal 87654321 12344321 golden 8675309 apple qwerty123 password1 password123
password12 passw0rd p@ssw0rd p@ssword pa$$word pa55word pa55w0rd password! password1! password01 password2
password3 password99 password2024 password2025 password2026 passwort motdepasse contraseña contrasena senha123
parola123 wachtwoord salasana lozinka haslo123 пароль iloveyou1 iloveyou2 iloveyou! iloveu123 ilovegod
ilovemom iloveyou123 loveyou1 lovely123 lovelove loveme12 loveme123 qwerty12 qwerty1 qwerty12345 qwerty1234
qwertyui qwertyu qwertyuiop123 qwertz123 qwertzuiop azerty123 azertyuiop 1qaz2wsx3edc zaq12wsx zaq1zaq1
zaq1xsw2 !qaz2wsx 1q2w3e4r5t 1q2w3e4r5t6y 1q2w3e 1q2w3e4r5 q1w2e3r4t5y6 asdfghjkl asdfghjk asdf1234 zxcvbnm1
zxcvbnm123 qazwsxedc qazwsx123 1qazxsw2 qweasdzxc qweasd123 qwe123qwe asd123 zxc123 abcd1234 abc12345 abcdefg
abcdefgh abcdef123 a1b2c3d4 a1b2c3 aa123456 a123456789 a12345678 a1234567 abc123456 123abc 123456a 123456abc
12345qwert 12345qwerty 123qweasd 123qweasdzxc 1234abcd 1234asdf 22222222 33333333 44444444 55555555 66666666
77777777 99999999 00000000 12341234 12121212 11223344 123454321 1234512345 12345678910 0987654321 9876543210
147258369 741852963 789456123 159357 1597532486 147852369 963852741 123456789a 123456789q 1234567a 12345678a
123456789z 987654321a 0123456789 1234554321 11112222 13579246 24682468 31415926 3141592654 10203040 1029384756
12qwaszx 123698745 100200300 135792468 246813579 112233445566 123123123123 121212121212 1122334455 6543210
welcome1 welcome123 welcome2024 welcome! welcome01 letmein1 letmein123 letmein! changeme changeme1 changeme123
default1 default123 admin123 admin1234 administrator admin2024 adminadmin root1234 rootroot toor1234 guest123
user1234 test1234 testtest test12345 tester123 demo1234 temp1234 temporary secret123 secret12 secret1234
private1 passpass pass1234 pass12345 mypassword mypass123 newpassword newpass1 nopassword login123 logon123
access14 access123 master123 masterkey superuser sysadmin system123 server123 oracle123 database webadmin
manager1 support123 service1 computer1 internet1 windows1 windows10 microsoft google123 facebook1 youtube1
linkedin twitter1 instagram netflix1 amazon123 yahoo123 hotmail1 gmail123 apple123 iphone123 samsung1 android1
football1 football123 baseball1 basketball soccer123 hockey123 golfer12 tennis123 volleyball softball
liverpool liverpool1 chelsea1 arsenal1 manchester manutd barcelona realmadrid juventus ronaldo7 cristiano
messi10 lakers24 kobe2424 yankees1 redsox04 steelers1 packers1 cowboys1 patriots broncos1 raiders1 eagles12
dolphins vikings1 bulldogs wildcats tigers12 panthers spartans mustangs superman1 batman123 spiderman ironman1
starwars1 skywalker darthvader jedimaster pokemon1 pikachu1 naruto12 dragonball goku1234 sasuke12 harrypotter
hogwarts gandalf1 frodo123 matrix12 terminator transformers minecraft minecraft1 fortnite roblox123
playstation xbox360 nintendo supermario zelda123 starcraft warcraft callofduty counterstrike halo1234
letsgo123 monkey12 monkey123 dragon12 dragon123 shadow12 shadow123 master12 killer12 hunter12 hunter123
hunter2 buster12 tigger12 charlie1 charlie123 michael1 jordan23 jordan123 jennifer1 jessica1 ashley12 nicole12
michelle1 daniel12 matthew1 andrew12 joshua12 robert12 thomas12 william1 anthony1 justin12 brandon1
christopher christian1 jonathan elizabeth alexander alexandra victoria1 samantha1 princess1 princess12
sunshine1 sunshine12 butterfly butterfly1 rainbow1 flower12 cookie12 chocolate chocolate1 cheese12 pepper12
ginger12 maggie12 bailey12 buddy123 lucky123 lucky777 happy123 smile123 friends1 family123 forever1 angel123
angels12 babygirl babygirl1 babyboy1 sweetheart sweetie1 sweetpea honey123 sugar123 candy123 kitty123 kittycat
puppy123 doggie12 tinkerbell tweety12 snoopy12 mickeymouse minnie12 hellokitty loveyou12 mylove12 myangel1
darling1 beautiful gorgeous precious summer12 summer123 summer2024 summer2025 winter12 winter123 winter2024
spring2024 autumn2024 fall2024 january1 february march2024 april123 december october1 november monday12
sunday12 friday13 christmas christmas1 halloween easter123 qwerty!@ 1q2w3e4r! !@#$%^&* !@#$%^ 1qaz!qaz
p@ssw0rd1 p@ssw0rd! p@$$w0rd p@55w0rd passw0rd1 passw0rd! password@123 pass@123 admin@123 root@123 test@123
welcome@123 india@123 abc@123 qwerty@123 hello@123 love@123 p4ssw0rd p455w0rd pa$$w0rd hello123 hello1234
helloworld hello12345 goodbye1 whatever1 nothing1 something trustno1! letmein2 opensesame abracadabra blahblah
blabla123 asdasd123 asdasdasd qweqweqwe zxczxczxc qazqazqaz aaaaaaaa aaaaaaaaaa bbbbbbbb abcabcabc abcdabcd
asdfqwer qwerasdf zxcvasdf 1a2b3c4d 1a2s3d4f 1z2x3c4v q1w2e3r4t5y6u7 1qw23e 3edc4rfv 2wsx3edc 4rfv5tgb
computer12 laptop123 keyboard mousepad desktop1 monitor1 printer1 network1 security security1 firewall
hacker123 hacking1 anonymous cyber123 crypto123 bitcoin1 ethereum blockchain jesus123 jesuschrist godisgood
blessed1 faith123 heaven12 trinity1 christ12 praise12 amen1234 church12 angel777 holyspirit freedom1 liberty1
america1 usa12345 canada123 england1 london12 london123 paris123 newyork1 chicago1 california florida1
texas123 boston12 dallas12 seattle1 miami123 vegas123 hawaii12 germany1 berlin12 france12 italia12 espana12
mexico12 brazil12 russia12 moscow12 poland12 warszawa mercedes1 porsche1 ferrari1 corvette1 mustang1
mustang123 camaro12 harley12 yamaha12 kawasaki suzuki12 honda123 toyota12 nissan12 bmw12345 audi1234
volkswagen chevrolet silverado michael123 jordan1234 qwerty7 asdfgh12 asdfghjk1 zxcvbn12 qwertyu1 computer123
internet123 monkey1234 dragon1234 shadow1234 master1234 soccer12 hockey12 tigers1 purple12 orange12 yellow12
silver12 golden12 diamond1 crystal1 phoenix1 falcon12 eagle123 tiger123 lion1234 wolf1234 bear1234 shark123
snake123 horse123 zebra123 panda123 monkeyman trustme1 believe1 destiny1 dreamer1 forever21 warrior1 soldier1
knight12 legend12 champion champion1 winner12 victory1 success1 money123 money1234 richman1 cash1234 dollar12
million1 billion1 letmein12 letmeinnow openup12 goaway12 fuckyou fuckyou1 fuckoff1 shithead asshole1 bitch123
pussy123 sexy1234 sexygirl hottie12 iloveyou22 loveyou2 lover123 lovers12 kisses12 hugs1234 1234567890a
qwertyuiop1 zxcvbnm12 passwort1 motdepasse1 contrasena1 senha1234 hallo123 ciao1234 bonjour1 hola1234 salut123
merci123 danke123 privet12 nihao123 woaini1314 5201314 woaini520 aini1314 1314520 iloveyou520 88888888a
168168168 518518518 abc123abc aa123123 qq123456 qq12345678 zz123456 zx123456 xx123456 student1 student123
teacher1 school12 college1 university studying homework classof2024 graduate mother12 father12 brother1
sister12 daughter1 grandma1 grandpa1 mommy123 daddy123 mommy1 family01 myfamily children twins123 babies12
edgeward edgeward1 edgeward123 gateway1 gateway123 worker123 cloudflare cloudflare1 workers1 princess123
sunflower sunflower1 strawberry blueberry1 pineapple1 cupcake1 cherry12 peaches1 banana12 apple1234 coconut1
watermelon mango123 lemonade vanilla1 caramel1 cinnamon1 chicken1 chicken123 pizza123 burger12 bacon123
cheeseburger coffee12 coffee123 starbucks whiskey1 jackdaniels beer1234 vodka123 tequila1 marijuana weed4200
420420420 blink182 metallica nirvana1 slipknot1 linkinpark eminem12 beatles1 rockstar rockstar1 rocknroll
musician guitar12 guitar123 piano123 drummer1 singer12 dancer12 artist12 painter1 writer12 reader12
photography asdfghjkl1 qwerty2024 qwerty2025 abc123456789 iloveyou1234 123456qwerty qwerty123456
1q2w3e4r5t6y7u 1qaz2wsx3edc4rfv zaq!2wsx 12345678q 12345678z 123456789m 123456789s 1234567q 11qq22ww qq11ww22
aa11bb22
`

export const COMMON_PASSWORDS: ReadonlySet<string> = new Set(
  LIST.split(/\s+/)
    .filter((word) => word.length > 0)
    .map((word) => word.normalize('NFKC').toLowerCase()),
)
